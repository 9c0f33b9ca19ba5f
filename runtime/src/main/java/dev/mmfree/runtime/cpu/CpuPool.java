package dev.mmfree.runtime.cpu;

import dev.mmfree.runtime.MmfreeException;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The CPU backend's worker threads: runs one data-parallel loop at a time, splitting {@code [0, n)}
 * into contiguous chunks, up to {@value #CHUNKS_PER_THREAD} per thread (or one per index for a few
 * heavy items: {@link #parallelForEach}), that the threads (the caller among them) take in order
 * from a shared counter. When one thread is slowed (another
 * process on its core, a worker still waking up) the others take over its share instead of
 * waiting for it; the caller waits only for chunks already taken.
 *
 * <p>Sized by system property {@code mmfree.threads}, else env {@code MMFREE_THREADS}, else
 * {@link Runtime#availableProcessors()}. Workers spin briefly after each loop (a decode step issues
 * many short loops back to back, and a park/unpark round trip costs tens of microseconds), then park.
 * A loop started from inside a task, or while another thread holds the pool, runs on the caller alone.
 * Dispatch allocates nothing: kernels pass a preallocated {@link RangeTask}.
 *
 * <p>Protocol: {@code work} packs [generation 32 bits | chunks 16 | next chunk 16]. The caller writes
 * the loop's parameters, then publishes a new generation; a thread takes chunk i by a CAS that
 * checks the generation, so a late worker can never take a chunk of a loop whose parameters it did
 * not see, and the parameters cannot change while any chunk of their loop is unfinished.
 */
public final class CpuPool implements AutoCloseable {
    /** A loop body over rows {@code [from, to)}. */
    @FunctionalInterface
    public interface RangeTask {
        void run(int from, int to);
    }

    static final int CHUNKS_PER_THREAD = 4;
    private static final long SPIN_NANOS = 50_000;
    private static volatile CpuPool shared;

    private final int threads;
    private final Worker[] workers;
    private final ReentrantLock lock = new ReentrantLock();
    private final AtomicLong work = new AtomicLong();
    private final AtomicInteger done = new AtomicInteger();

    private volatile Thread waiting;
    private volatile boolean closed;
    private volatile Throwable failure;
    private RangeTask task;
    private int n;
    private int grain;
    private int chunks;

    public CpuPool(int threads) {
        if (threads < 1 || threads > 0xFFFF / CHUNKS_PER_THREAD) {
            throw new MmfreeException("cpu pool: thread count must be in [1, " + 0xFFFF / CHUNKS_PER_THREAD + "], got " + threads);
        }
        this.threads = threads;
        this.workers = new Worker[threads - 1];
        for (int w = 0; w < workers.length; w++) {
            workers[w] = new Worker(w + 1);
            workers[w].thread.start();
        }
    }

    /** The pool shared by every CPU kernel, created on first use. */
    public static CpuPool shared() {
        CpuPool p = shared;
        if (p == null) {
            synchronized (CpuPool.class) {
                p = shared;
                if (p == null) {
                    p = new CpuPool(configuredThreads());
                    shared = p;
                }
            }
        }
        return p;
    }

    /** {@code mmfree.threads}, else {@code MMFREE_THREADS}, else the available processors. */
    public static int configuredThreads() {
        String v = System.getProperty("mmfree.threads");
        String from = "system property mmfree.threads";
        if (v == null || v.isBlank()) {
            v = System.getenv("MMFREE_THREADS");
            from = "env MMFREE_THREADS";
        }
        if (v == null || v.isBlank()) {
            return Runtime.getRuntime().availableProcessors();
        }
        try {
            int t = Integer.parseInt(v.trim());
            if (t >= 1) {
                return t;
            }
        } catch (NumberFormatException ignored) {
            // reported below
        }
        throw new MmfreeException("cpu pool: " + from + " must be an integer >= 1, got '" + v + "'");
    }

    public int threads() {
        return threads;
    }

    /**
     * Runs {@code task} over {@code [0, n)} in contiguous chunks whose bounds are multiples of
     * {@code grain} (except the end), at most {@value #CHUNKS_PER_THREAD} chunks per thread;
     * returns when all are done, rethrowing the first failure of any chunk.
     */
    public void parallelFor(int n, int grain, RangeTask task) {
        int g = Math.max(1, grain);
        run(n, g, (int) Math.min((long) threads * CHUNKS_PER_THREAD, (n + (long) g - 1) / g), task);
    }

    /**
     * {@link #parallelFor} with each index its own chunk (up to 65535 chunks): for a few heavy
     * items, where chunks of several leave the threads that finish first waiting on the last one's
     * whole chunk (BitLinear's row tiles at t = 1: 20 items of 73 KB of weights at 2560 x 2560).
     */
    public void parallelForEach(int n, RangeTask task) {
        if (n > 0xFFFF) {
            parallelFor(n, 1, task);
        } else {
            run(n, 1, n, task);
        }
    }

    private void run(int n, int g, int c, RangeTask task) {
        if (n <= 0) {
            return;
        }
        if (c <= 1 || threads == 1 || closed || isWorker() || lock.isHeldByCurrentThread() || !lock.tryLock()) {
            task.run(0, n);
            return;
        }
        try {
            this.task = task;
            this.n = n;
            this.grain = g;
            this.chunks = c;
            failure = null;
            done.set(0);
            long gen = (work.get() >>> 32) + 1;
            work.set(gen << 32 | (long) c << 16);
            for (Worker w : workers) {
                if (w.sleeping) {
                    LockSupport.unpark(w.thread);
                }
            }
            runChunks(gen);
            awaitDone(c);
            this.task = null;
            Throwable f = failure;
            if (f != null) {
                failure = null;
                if (f instanceof RuntimeException re) {
                    throw re;
                }
                if (f instanceof Error e) {
                    throw e;
                }
                throw new MmfreeException("cpu pool: task failed", f);
            }
        } finally {
            lock.unlock();
        }
    }

    /** Takes chunks of generation gen until none are left (or a newer loop was posted). */
    private void runChunks(long gen) {
        while (true) {
            long w = work.get();
            int total = (int) (w >>> 16) & 0xFFFF;
            int next = (int) w & 0xFFFF;
            if (w >>> 32 != gen || next >= total) {
                return;
            }
            if (!work.compareAndSet(w, w + 1)) {
                continue;
            }
            try {
                int from = bound(next);
                int to = bound(next + 1);
                if (from < to) {
                    task.run(from, to);
                }
            } catch (Throwable t) {
                if (failure == null) {
                    failure = t;
                }
            }
            if (done.incrementAndGet() == total) {
                Thread caller = waiting;
                if (caller != null) {
                    LockSupport.unpark(caller);
                }
            }
        }
    }

    private int bound(int chunk) {
        if (chunk >= chunks) {
            return n;
        }
        long b = (long) n * chunk / chunks;
        return (int) Math.min(n, (b + grain / 2) / grain * grain);
    }

    private void awaitDone(int total) {
        long start = System.nanoTime();
        while (done.get() != total) {
            if (System.nanoTime() - start < SPIN_NANOS) {
                Thread.onSpinWait();
            } else {
                waiting = Thread.currentThread();
                if (done.get() != total) {
                    LockSupport.parkNanos(this, 1_000_000);
                }
                waiting = null;
            }
        }
    }

    private boolean isWorker() {
        return Thread.currentThread() instanceof WorkerThread wt && wt.pool == this;
    }

    @Override
    public void close() {
        closed = true;
        for (Worker w : workers) {
            LockSupport.unpark(w.thread);
        }
    }

    private static final class WorkerThread extends Thread {
        final CpuPool pool;

        WorkerThread(CpuPool pool, Runnable body, String name) {
            super(body, name);
            this.pool = pool;
            setDaemon(true);
        }
    }

    private final class Worker implements Runnable {
        final Thread thread;
        volatile boolean sleeping;

        Worker(int index) {
            this.thread = new WorkerThread(CpuPool.this, this, "mmfree-cpu-" + index);
        }

        @Override
        public void run() {
            long seen = 0;
            while (!closed) {
                long start = System.nanoTime();
                while (work.get() >>> 32 == seen && !closed) {
                    if (System.nanoTime() - start < SPIN_NANOS) {
                        Thread.onSpinWait();
                    } else {
                        sleeping = true;
                        if (work.get() >>> 32 == seen && !closed) {
                            LockSupport.park(this);
                        }
                        sleeping = false;
                    }
                }
                seen = work.get() >>> 32;
                runChunks(seen);
            }
        }
    }
}
