package dev.mmfree.model;

import dev.mmfree.kernels.sampling.SamplerOpenCl;
import dev.mmfree.kernels.sampling.SamplingParams;
import dev.mmfree.runtime.Device;
import dev.mmfree.runtime.DeviceBuffer;
import dev.mmfree.runtime.DeviceEvent;
import dev.mmfree.runtime.HostBuffer;
import dev.mmfree.runtime.MmfreeException;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.random.RandomGenerator;

/**
 * A {@link DecodeStream} for a model on a device: one step runs ahead. Step k+1 goes on the in-order
 * queue behind step k before the caller gets step k's ids, and those ids come back by an asynchronous
 * read into pinned memory. The step's uniforms go up the same way. The two in-flight steps use two
 * slots of host buffers.
 *
 * <p>A model supplies the step (its input is the ids the previous step left in the batch's id buffer),
 * and the undo of one queued step. The model's state can only be taken back one step (HGRNBit keeps
 * two MLGRU state buffers), so no more than one step runs ahead.
 */
public abstract class QueuedDecodeStream implements DecodeStream {
    private final Device device;
    private final DeviceBuffer idsOnDevice;
    private final int size;
    private final SamplingParams params;
    private final RandomGenerator uniforms;
    private final HostBuffer[] ids = new HostBuffer[2];
    private final HostBuffer[] u = new HostBuffer[2];
    private final List<List<DeviceEvent>> copies = List.of(new ArrayList<>(), new ArrayList<>());   // a slot's uploads and read
    private int[] last;
    private long submitted;
    private long returned;
    private boolean closed;
    private RuntimeException failure;   // from checkStep: the stream is broken

    /**
     * Writes {@code last} to the batch's id buffer {@code idsOnDevice} (the input of a step's embedding
     * gather and the output of its sampler); steps start at the first {@link #next}.
     */
    protected QueuedDecodeStream(Device device, DeviceBuffer idsOnDevice, int[] last, SamplingParams params,
                                 RandomGenerator uniforms) {
        this.device = device;
        this.idsOnDevice = idsOnDevice;
        this.size = last.length;
        this.params = params;
        this.uniforms = uniforms;
        this.last = last.clone();
        try {
            for (int slot = 0; slot < 2; slot++) {
                ids[slot] = device.allocateHost(4L * size, "ids of decode slot " + slot);
                u[slot] = device.allocateHost(8L * size, "uniforms of decode slot " + slot);
            }
            device.write(idsOnDevice, 0, this.last, 0, size);
        } catch (RuntimeException e) {
            freeHostBuffers();
            throw e;
        }
    }

    /**
     * Enqueues one step (its sampler writes the batch's next ids to the id buffer) and the
     * asynchronous uploads it needs. {@code uniforms} holds the step's uniforms, one double a sequence
     * (null for greedy decoding); it stays untouched until the returned events complete.
     */
    protected abstract List<DeviceEvent> enqueueStep(int slot, ByteBuffer uniforms);

    /** Takes back the one step queued ahead (the device is idle); the last returned ids are back in the id buffer. */
    protected abstract void undoStep();

    /**
     * Checks what a step left beside its ids, once the slot's copies have completed and before its ids are
     * returned (the next step is queued by then). A step that fails here fails the stream: every later
     * {@link #next} throws too. By default nothing.
     */
    protected void checkStep(int slot) {
    }

    /** Whether the model that owns the batch is still open (else steps fail, and closing touches nothing). */
    protected abstract boolean modelOpen();

    /** Detaches the stream from its batch, which then takes calls again. */
    protected abstract void detached();

    @Override
    public final int[] next() {
        if (closed) {
            throw new MmfreeException("decode stream: the stream is closed");
        }
        if (failure != null) {
            throw new MmfreeException("decode stream: an earlier step failed (" + failure.getMessage() + "); close the stream", failure);
        }
        if (!modelOpen()) {
            throw new MmfreeException("decode stream: the model is closed");
        }
        while (submitted <= returned + 1) {
            submit();
        }
        int slot = (int) (returned & 1);
        awaitSlot(slot);
        try {
            checkStep(slot);
        } catch (RuntimeException e) {
            failure = e;
            throw e;
        }
        int[] out = new int[size];
        ids[slot].bytes().asIntBuffer().get(out);
        returned++;
        last = SamplerOpenCl.check(out);
        return out.clone();
    }

    private void submit() {
        int slot = (int) (submitted & 1);
        awaitSlot(slot);
        ByteBuffer ub = u[slot].bytes();
        for (int q = 0; q < size; q++) {
            ub.putDouble(8 * q, uniforms.nextDouble());   // drawn for greedy too, as forwardSample's callers do
        }
        copies.get(slot).addAll(enqueueStep(slot, params.isGreedy() ? null : ub));
        copies.get(slot).add(device.readAsync(idsOnDevice, 0, ids[slot].bytes()));
        device.flush();
        submitted++;
    }

    /** Waits for a slot's copies, so that its host buffers may be reused, and frees their events. */
    private void awaitSlot(int slot) {
        for (DeviceEvent e : copies.get(slot)) {
            e.await();
        }
        freeEvents(slot);
    }

    private void freeEvents(int slot) {
        for (DeviceEvent e : copies.get(slot)) {
            e.close();
        }
        copies.get(slot).clear();
    }

    @Override
    public final void close() {
        if (closed) {
            return;
        }
        try {
            if (submitted > returned && modelOpen()) {
                device.synchronize();
                undoStep();
                device.write(idsOnDevice, 0, last, 0, size);
            }
        } finally {
            release();
        }
    }

    /** Frees the stream's events and host buffers and detaches it, undoing nothing (its batch is closing). */
    public final void release() {
        closed = true;
        freeEvents(0);
        freeEvents(1);
        freeHostBuffers();
        detached();
    }

    private void freeHostBuffers() {
        for (HostBuffer[] host : List.of(ids, u)) {
            for (int slot = 0; slot < 2; slot++) {
                if (host[slot] != null) {
                    host[slot].close();
                    host[slot] = null;
                }
            }
        }
    }
}
