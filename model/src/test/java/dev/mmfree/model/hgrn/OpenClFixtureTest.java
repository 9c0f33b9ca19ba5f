package dev.mmfree.model.hgrn;

import dev.mmfree.model.FixtureConformanceSuite;
import dev.mmfree.model.OpenClBackend;
import org.junit.jupiter.api.BeforeAll;

/**
 * The opencl backend on every fixture: HGRNBit at batch 2 (the GEMM path for prefill and for decoding;
 * the fused batch-1 decode path is checked in {@link HgrnBitOpenClTest}) and Llama with fp16 matrices.
 * On a machine with only
 * PoCL it runs on the CPU device; without any OpenCL it is skipped.
 */
class OpenClFixtureTest extends FixtureConformanceSuite {
    @BeforeAll
    static void selectDevice() {
        OpenClTesting.selectDefaultDeviceOrSkip();
    }

    @Override
    protected String backend() {
        return OpenClBackend.NAME;
    }
}
