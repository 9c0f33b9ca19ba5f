package dev.mmfree.model;

/** The cpu backend (Vector API kernels, HgrnBitCpu and LlamaCpu) on all fixtures. */
class CpuFixtureTest extends FixtureConformanceSuite {
    @Override
    protected String backend() {
        return CpuBackend.NAME;
    }
}
