package dev.mmfree.runtime.cpu;

import dev.mmfree.runtime.MmfreeException;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The CPU backend's worker threads: runs one data-parallel loop at a time, splitting {@code [0, n)}
 * into one contiguous chunk per thread. The calling thread runs the first chunk itself.
 *
 * <p>Sized by system property {@code mmfree.threads}, else env {@code MMFREE_THREADS}, else
 * {@link Runtime#availableProcessors()}. Workers spin briefly after each loop (a decode step issues
 * many short loops back to back, and a park/unpark round trip costs tens of microseconds), then park.
 * Every worker acknowledges every loop (even with no chunk of it), so no worker can still be reading
 * one loop's parameters when the next is posted. A loop started from inside a task, or while
 * another thread holds the pool, runs on the caller alone.
 * Dispatch allocates nothing: kernels pass a preallocated {@link RangeTask}.
 */
public final class CpuPool implements AutoCloseable {
    /** A loop body over rows {@code [from, to)}. */
    @FunctionalInterface
    public interface RangeTask {
        void run(int from, int to);
    }

    private static final long SPIN_NANOS = 50_000;
    private static volatile CpuPool shared;

    private final int threads;
    private final Worker[] workers;
    private final ReentrantLock lock = new ReentrantLock();
    private final AtomicInteger pending = new AtomicInteger();

    private volatile long generation;
    private volatile boolean callerSleeping;
    private volatile boolean closed;
    private volatile Throwable failure;
    private Thread caller;
    private RangeTask task;
    private int n;
    private int grain;
    private int chunks;

    public CpuPool(int threads) {
        if (threads < 1) {
            throw new MmfreeException("cpu pool: thread count must be >= 1, got " + threads);
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
     * {@code grain} (except the end), at most one chunk per thread; returns when all are done.
     */
    public void parallelFor(int n, int grain, RangeTask task) {
        if (n <= 0) {
            return;
        }
        int g = Math.max(1, grain);
        int c = (int) Math.min(threads, (n + (long) g - 1) / g);
        if (c <= 1 || closed || isWorker() || lock.isHeldByCurrentThread() || !lock.tryLock()) {
            task.run(0, n);
            return;
        }
        try {
            caller = Thread.currentThread();
            this.task = task;
            this.n = n;
            this.grain = g;
            this.chunks = c;
            failure = null;
            pending.set(workers.length);
            generation++;
            for (int w = 0; w < workers.length; w++) {
                if (workers[w].sleeping) {
                    LockSupport.unpark(workers[w].thread);
                }
            }
            try {
                runChunk(0);
            } catch (Throwable t) {
                failure = t;
            }
            awaitWorkers();
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
            caller = null;
            lock.unlock();
        }
    }

    private void runChunk(int chunk) {
        int from = bound(chunk);
        int to = bound(chunk + 1);
        if (from < to) {
            task.run(from, to);
        }
    }

    private int bound(int chunk) {
        if (chunk >= chunks) {
            return n;
        }
        long b = (long) n * chunk / chunks;
        return (int) Math.min(n, (b + grain / 2) / grain * grain);
    }

    private void awaitWorkers() {
        long start = System.nanoTime();
        while (pending.get() != 0) {
            if (System.nanoTime() - start < SPIN_NANOS) {
                Thread.onSpinWait();
            } else {
                callerSleeping = true;
                if (pending.get() != 0) {
                    LockSupport.parkNanos(this, 1_000_000);
                }
                callerSleeping = false;
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
        final int chunk;
        final Thread thread;
        volatile boolean sleeping;

        Worker(int chunk) {
            this.chunk = chunk;
            this.thread = new WorkerThread(CpuPool.this, this, "mmfree-cpu-" + chunk);
        }

        @Override
        public void run() {
            long seen = 0;
            while (!closed) {
                long start = System.nanoTime();
                while (generation == seen && !closed) {
                    if (System.nanoTime() - start < SPIN_NANOS) {
                        Thread.onSpinWait();
                    } else {
                        sleeping = true;
                        if (generation == seen && !closed) {
                            LockSupport.park(this);
                        }
                        sleeping = false;
                    }
                }
                if (closed) {
                    return;
                }
                seen = generation;
                if (chunk < chunks) {
                    try {
                        runChunk(chunk);
                    } catch (Throwable t) {
                        if (failure == null) {
                            failure = t;
                        }
                    }
                }
                if (pending.decrementAndGet() == 0 && callerSleeping) {
                    LockSupport.unpark(caller);
                }
            }
        }
    }
}
