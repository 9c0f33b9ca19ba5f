package dev.mmfree.runtime.opencl;

import dev.mmfree.runtime.DeviceBuffer;
import dev.mmfree.runtime.DeviceEvent;
import dev.mmfree.runtime.DeviceException;
import dev.mmfree.runtime.DeviceKernel;
import dev.mmfree.runtime.DeviceProgram;
import dev.mmfree.runtime.HostBuffer;
import dev.mmfree.runtime.MemoryCategory;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

class OpenClDeviceTest {
    private static final String SCALE = """
            __kernel void scale_f32(__global const float* x, __global float* y, const float a, const int n) {
                int i = get_global_id(0);
                if (i < n) y[i] = a * x[i];
            }
            """;

    @BeforeAll
    static void needOpenCl() {
        assumeTrue(OpenCl.skipReason().isEmpty(), () -> "OpenCL unavailable: " + OpenCl.unavailableReason().orElse(""));
    }

    @Test
    void roundTripsFillsAndReturnsLedgerToZero() {
        OpenClDevice d = OpenCl.open(null, true);
        DeviceBuffer f = d.allocate(MemoryCategory.WORKSPACE, 4 * 37, "floats");
        DeviceBuffer w = d.allocate(MemoryCategory.WEIGHTS, 100, "bytes");
        assertEquals(148, d.memory().bytes(MemoryCategory.WORKSPACE));
        assertEquals(100, d.memory().bytes(MemoryCategory.WEIGHTS));
        Random r = new Random(1);
        float[] x = new float[37];
        for (int i = 0; i < x.length; i++) {
            x[i] = r.nextFloat();
        }
        d.write(f, x);
        float[] back = new float[37];
        d.read(f, back);
        assertArrayEquals(x, back);
        d.fill(f, Float.floatToRawIntBits(Float.NaN));
        d.read(f, 8, back, 2, 5);
        for (int i = 2; i < 7; i++) {
            assertTrue(Float.isNaN(back[i]), "fill left element " + i);
        }
        byte[] b = new byte[100];
        r.nextBytes(b);
        d.write(w, b);
        byte[] bb = new byte[100];
        d.read(w, bb);
        assertArrayEquals(b, bb);
        assertThrows(DeviceException.class, () -> d.read(w, 96, new byte[8], 0, 8));
        d.close();
        assertEquals(0, d.memory().totalBytes());
    }

    @Test
    void launchesAndTimesAKernel() {
        try (OpenClDevice d = OpenCl.open(null, true)) {
            DeviceProgram p = d.build("scale", SCALE, "");
            int n = 1000;
            float[] x = new float[n];
            for (int i = 0; i < n; i++) {
                x[i] = i;
            }
            DeviceBuffer xb = d.upload(MemoryCategory.WORKSPACE, "x", x);
            DeviceBuffer yb = d.allocate(MemoryCategory.WORKSPACE, 4L * n, "y");
            DeviceKernel k = p.kernel("scale_f32").args(xb, yb, 2.5f, n);
            try (DeviceEvent e = d.launchTimed(k, new long[]{1024}, new long[]{64})) {
                assertTrue(e.elapsedNanos() >= 0);
            }
            float[] y = new float[n];
            d.read(yb, y);
            for (int i = 0; i < n; i++) {
                assertEquals(2.5f * i, y[i], "y[" + i + "]");
            }
            ClException bad = assertThrows(ClException.class, () -> d.launch(k, new long[]{1000}, new long[]{1 << 20}));
            assertTrue(bad.getMessage().contains("scale_f32") && bad.getMessage().contains("clEnqueueNDRangeKernel"), bad.getMessage());
        }
    }

    @Test
    void asyncTransfersRunInQueueOrderAroundKernels() {
        try (OpenClDevice d = OpenCl.open(null, false)) {
            DeviceProgram p = d.build("scale", SCALE, "");
            int n = 301;
            DeviceBuffer xb = d.allocate(MemoryCategory.WORKSPACE, 4L * n, "x");
            DeviceBuffer yb = d.allocate(MemoryCategory.WORKSPACE, 4L * n, "y");
            d.fill(yb, Float.floatToRawIntBits(Float.NaN));
            DeviceKernel k = p.kernel("scale_f32").args(xb, yb, -3f, n);
            // the host data starts 12 bytes into its buffer: the transfers must start at the position;
            // rounds 0-2 on plain direct buffers, 3-5 on pinned host memory
            HostBuffer pinnedIn = d.allocateHost(12 + 4 * n, "in");
            HostBuffer pinnedOut = d.allocateHost(8 + 4 * n, "out");
            assertEquals(2L * 4 * n, d.memory().totalBytes(), "pinned host memory is not device memory");
            Random r = new Random(7);
            float[] x = new float[n];
            for (int round = 0; round < 6; round++) {
                ByteBuffer in = round < 3 ? ByteBuffer.allocateDirect(12 + 4 * n).order(ByteOrder.nativeOrder()) : pinnedIn.bytes();
                ByteBuffer out = round < 3 ? ByteBuffer.allocateDirect(8 + 4 * n).order(ByteOrder.nativeOrder()) : pinnedOut.bytes();
                in.clear().position(12);
                for (int i = 0; i < n; i++) {
                    x[i] = r.nextFloat() - 0.5f;
                    in.putFloat(12 + 4 * i, x[i]);
                }
                out.clear().position(8);
                try (DeviceEvent w = d.writeAsync(xb, 0, in)) {
                    d.launch(k, new long[]{320}, new long[]{32});
                    try (DeviceEvent rd = d.readAsync(yb, 0, out)) {
                        d.flush();
                        rd.await();
                        w.await();
                    }
                }
                for (int i = 0; i < n; i++) {
                    assertEquals(-3f * x[i], out.getFloat(8 + 4 * i), "round " + round + ", y[" + i + "]");
                }
            }
            pinnedIn.close();
            pinnedOut.close();
            assertThrows(DeviceException.class, pinnedIn::bytes, "a closed host buffer");
            assertThrows(DeviceException.class, () -> d.readAsync(yb, 0, ByteBuffer.allocate(8)), "a heap buffer");
            assertThrows(DeviceException.class, () -> d.readAsync(yb, 4L * n - 4, ByteBuffer.allocateDirect(8)), "past the end");
            assertThrows(DeviceException.class, () -> d.writeAsync(yb, -4, ByteBuffer.allocateDirect(8)), "a negative offset");
        }
    }

    @Test
    void buildFailureCarriesTheLog() {
        try (OpenClDevice d = OpenCl.open(null, false)) {
            DeviceException e = assertThrows(DeviceException.class,
                    () -> d.build("broken", "__kernel void k(__global float* y) { y[0] = undefined_name; }", ""));
            assertTrue(e.getMessage().contains("undefined_name"), e.getMessage());
        }
    }

    @Test
    void cachesBinariesAndRebuildsOverACorruptOne(@TempDir Path cache) throws Exception {
        withCache(cache, "on", () -> {
            try (OpenClDevice d = OpenCl.open(null, false)) {
                String src = SCALE + "\n// cache test " + System.nanoTime() + "\n";
                OpenClProgram first = (OpenClProgram) d.build("scale", src, "-DX=1");
                assertFalse(first.fromCache());
                Path bin;
                try (Stream<Path> files = Files.list(cache.resolve("opencl"))) {
                    bin = files.filter(f -> f.toString().endsWith(".bin")).findFirst().orElseThrow();
                }
                OpenClProgram second = (OpenClProgram) d.build("scale", src, "-DX=1");
                assertTrue(second.fromCache());
                Files.write(bin, new byte[]{1, 2, 3, 4, 5});
                OpenClProgram third = (OpenClProgram) d.build("scale", src, "-DX=1");
                assertFalse(third.fromCache());
                third.kernel("scale_f32").close();
            }
        });
    }

    @Test
    void programCachePolicyLeavesPoclToItsOwnCache() {
        assertTrue(ProgramCache.usesBinaries("NVIDIA CUDA", null));
        assertTrue(ProgramCache.usesBinaries("NVIDIA CUDA", " Auto "));
        assertFalse(ProgramCache.usesBinaries(ProgramCache.POCL_PLATFORM, ""));
        assertTrue(ProgramCache.usesBinaries(ProgramCache.POCL_PLATFORM, "on"));
        assertFalse(ProgramCache.usesBinaries("NVIDIA CUDA", "OFF"));
        DeviceException e = assertThrows(DeviceException.class, () -> ProgramCache.usesBinaries("NVIDIA CUDA", "sometimes"));
        assertTrue(e.getMessage().contains("MMFREE_PROGRAM_CACHE") && e.getMessage().contains("sometimes"), e.getMessage());
    }

    /** Under the default policy this device's programs are stored exactly when its platform is not PoCL; off stores none. */
    @Test
    void defaultPolicyStoresBinariesExceptOnPocl(@TempDir Path cache) throws Exception {
        for (String policy : new String[]{"auto", "off"}) {
            Path dir = cache.resolve(policy);
            withCache(dir, policy, () -> {
                try (OpenClDevice d = OpenCl.open(null, false)) {
                    String src = SCALE + "\n// policy test " + System.nanoTime() + "\n";
                    d.build("scale", src, "").close();
                    OpenClProgram again = (OpenClProgram) d.build("scale", src, "");
                    boolean stores = policy.equals("auto") && !d.info().name().contains(ProgramCache.POCL_PLATFORM);
                    assertEquals(stores, again.fromCache(), policy + " on " + d.info().name());
                    assertEquals(stores, Files.isDirectory(dir.resolve("opencl")), policy + " on " + d.info().name());
                    again.kernel("scale_f32").close();
                }
            });
        }
    }

    private interface Body {
        void run() throws Exception;
    }

    /** Runs body with the program cache in dir under the policy, then restores both properties. */
    private static void withCache(Path dir, String policy, Body body) throws Exception {
        String oldDir = System.getProperty("mmfree.cache");
        String oldPolicy = System.getProperty("mmfree.programCache");
        System.setProperty("mmfree.cache", dir.toString());
        System.setProperty("mmfree.programCache", policy);
        try {
            body.run();
        } finally {
            restore("mmfree.cache", oldDir);
            restore("mmfree.programCache", oldPolicy);
        }
    }

    private static void restore(String key, String value) {
        if (value == null) {
            System.clearProperty(key);
        } else {
            System.setProperty(key, value);
        }
    }

    @Test
    void selectsByIndexTypeAndName() {
        OpenCl.Candidate first = OpenCl.devices().getFirst();
        assertEquals(first, OpenCl.select("0"));
        assertEquals(first, OpenCl.select(first.deviceName().substring(0, 3).toUpperCase()));
        DeviceException e = assertThrows(DeviceException.class, () -> OpenCl.select("no-such-device-xyz"));
        assertTrue(e.getMessage().contains(first.name()), e.getMessage());
        assertThrows(DeviceException.class, () -> OpenCl.select("99"));
    }

    /** A slice is a buffer of its own to kernels and copies, over the parent's bytes, and is not counted twice. */
    @Test
    void slicesViewTheirParentAndAreNotCounted() {
        try (OpenClDevice d = OpenCl.open(null, false)) {
            long align = d.info().baseAlignBytes();
            assertTrue(align > 0 && Long.bitCount(align) == 1, "base alignment " + align);
            int n = 37;
            int stride = (int) (align / 4) * (1 + 4 * n / (int) align);   // floats from one slice's start to the next
            DeviceBuffer parent = d.allocate(MemoryCategory.WEIGHTS, 4L * 3 * stride, "stack");
            d.fill(parent, Float.floatToRawIntBits(Float.NaN));
            assertEquals(12L * stride, d.memory().bytes(MemoryCategory.WEIGHTS));
            DeviceBuffer[] slices = new DeviceBuffer[3];
            for (int l = 0; l < 3; l++) {
                slices[l] = d.slice(parent, 4L * l * stride, 4L * n, "layer " + l);
            }
            assertEquals(12L * stride, d.memory().bytes(MemoryCategory.WEIGHTS), "slices are not counted");
            assertEquals(MemoryCategory.WEIGHTS, slices[1].category());
            assertEquals(4L * n, slices[1].bytes());

            Random r = new Random(2);
            float[] x = new float[n];
            for (int i = 0; i < n; i++) {
                x[i] = r.nextFloat();
            }
            DeviceBuffer xb = d.upload(MemoryCategory.WORKSPACE, "x", x);
            DeviceProgram p = d.build("scale", SCALE, "");
            DeviceKernel k = p.kernel("scale_f32").args(xb, slices[1], 2f, n);
            d.launch(k, new long[]{64}, null);
            d.write(slices[2], 0, new float[]{7f, 8f}, 0, 2);
            float[] all = new float[3 * stride];
            d.read(parent, all);
            for (int i = 0; i < n; i++) {
                assertTrue(Float.isNaN(all[i]), "slice 0 untouched at " + i);
                assertEquals(2f * x[i], all[stride + i], "the kernel wrote slice 1's element " + i + " into the parent");
            }
            assertTrue(Float.isNaN(all[stride + n]), "nothing past slice 1's end");
            assertEquals(7f, all[2 * stride]);
            assertEquals(8f, all[2 * stride + 1]);
            float[] back = new float[n];
            d.read(slices[1], back);
            assertEquals(2f * x[5], back[5], "a slice reads its own bytes");

            DeviceException misaligned = assertThrows(DeviceException.class, () -> d.slice(parent, 4, 16, "odd"));
            assertTrue(misaligned.getMessage().contains("odd") && misaligned.getMessage().contains("alignment"), misaligned.getMessage());
            DeviceException past = assertThrows(DeviceException.class, () -> d.slice(parent, 0, 12L * stride + 4, "long"));
            assertTrue(past.getMessage().contains("long") && past.getMessage().contains("out of bounds"), past.getMessage());

            parent.close();   // the slices keep the memory until they are released too
            assertEquals(0, d.memory().bytes(MemoryCategory.WEIGHTS));
            d.read(slices[2], back);
            assertEquals(7f, back[0], "a slice outlives its parent's close");
            for (DeviceBuffer s : slices) {
                s.close();
            }
            k.close();
        }
    }
}
