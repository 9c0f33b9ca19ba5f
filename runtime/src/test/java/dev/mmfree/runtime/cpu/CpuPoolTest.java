package dev.mmfree.runtime.cpu;

import dev.mmfree.runtime.MmfreeException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.concurrent.atomic.AtomicIntegerArray;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CpuPoolTest {
    @ParameterizedTest(name = "threads={0} n={1} grain={2}")
    @CsvSource({"1, 10, 1", "2, 1, 1", "3, 7, 1", "3, 1000, 16", "4, 257, 16", "5, 3, 1", "2, 100000, 64"})
    void coversEveryIndexOnceInContiguousGrainAlignedChunks(int threads, int n, int grain) {
        try (CpuPool pool = new CpuPool(threads)) {
            for (int round = 0; round < 50; round++) {
                AtomicIntegerArray hits = new AtomicIntegerArray(n);
                pool.parallelFor(n, grain, (from, to) -> {
                    assertTrue(from % grain == 0, "chunk start " + from + " not a multiple of grain " + grain);
                    for (int i = from; i < to; i++) {
                        hits.incrementAndGet(i);
                    }
                });
                for (int i = 0; i < n; i++) {
                    assertEquals(1, hits.get(i), "index " + i + " of " + n + " in round " + round);
                }
            }
        }
    }

    @ParameterizedTest(name = "threads={0} n={1}")
    @CsvSource({"1, 5", "2, 1", "2, 20", "3, 7", "2, 65535", "2, 70000"})
    void forEachRunsEveryIndexOnceAsItsOwnChunk(int threads, int n) {
        try (CpuPool pool = new CpuPool(threads)) {
            for (int round = 0; round < 20; round++) {
                AtomicIntegerArray hits = new AtomicIntegerArray(n);
                pool.parallelForEach(n, (from, to) -> {
                    assertTrue(n > 0xFFFF || threads == 1 || n == 1 || to == from + 1, "chunk [" + from + ", " + to + ") of " + n);
                    for (int i = from; i < to; i++) {
                        hits.incrementAndGet(i);
                    }
                });
                for (int i = 0; i < n; i++) {
                    assertEquals(1, hits.get(i), "index " + i + " of " + n + " in round " + round);
                }
            }
        }
    }

    @Test
    void taskFailureReachesTheCallerAndThePoolStaysUsable() {
        try (CpuPool pool = new CpuPool(3)) {
            RuntimeException e = assertThrows(IllegalStateException.class, () -> pool.parallelFor(300, 1, (from, to) -> {
                if (from > 0) {
                    throw new IllegalStateException("boom at " + from);
                }
            }));
            assertTrue(e.getMessage().startsWith("boom"));
            AtomicIntegerArray hits = new AtomicIntegerArray(300);
            pool.parallelFor(300, 1, (from, to) -> {
                for (int i = from; i < to; i++) {
                    hits.incrementAndGet(i);
                }
            });
            for (int i = 0; i < 300; i++) {
                assertEquals(1, hits.get(i));
            }
        }
    }

    @Test
    void nestedLoopsRunOnTheCallingThread() {
        try (CpuPool pool = new CpuPool(2)) {
            AtomicIntegerArray hits = new AtomicIntegerArray(40 * 40);
            pool.parallelFor(40, 1, (from, to) -> {
                for (int i = from; i < to; i++) {
                    int row = i;
                    pool.parallelFor(40, 1, (a, b) -> {
                        for (int j = a; j < b; j++) {
                            hits.incrementAndGet(row * 40 + j);
                        }
                    });
                }
            });
            for (int i = 0; i < 1600; i++) {
                assertEquals(1, hits.get(i));
            }
        }
    }

    @Test
    void concurrentCallersBothComplete() throws InterruptedException {
        try (CpuPool pool = new CpuPool(2)) {
            AtomicIntegerArray hits = new AtomicIntegerArray(2 * 5000);
            Thread[] callers = new Thread[2];
            for (int c = 0; c < 2; c++) {
                int base = c * 5000;
                callers[c] = new Thread(() -> {
                    for (int round = 0; round < 200; round++) {
                        pool.parallelFor(5000, 8, (from, to) -> {
                            for (int i = from; i < to; i++) {
                                hits.incrementAndGet(base + i);
                            }
                        });
                    }
                });
                callers[c].start();
            }
            for (Thread t : callers) {
                t.join();
            }
            for (int i = 0; i < 10000; i++) {
                assertEquals(200, hits.get(i));
            }
        }
    }

    @Test
    void rejectsBadThreadCounts() {
        assertThrows(MmfreeException.class, () -> new CpuPool(0));
        String old = System.getProperty("mmfree.threads");
        try {
            System.setProperty("mmfree.threads", "two");
            assertThrows(MmfreeException.class, CpuPool::configuredThreads);
            System.setProperty("mmfree.threads", "3");
            assertEquals(3, CpuPool.configuredThreads());
        } finally {
            if (old == null) {
                System.clearProperty("mmfree.threads");
            } else {
                System.setProperty("mmfree.threads", old);
            }
        }
    }
}
