package dev.mmfree.model.hgrn;

import dev.mmfree.model.FixtureConformanceSuite;
import dev.mmfree.model.ReferenceBackend;

/** The reference backend on all fixtures (both HGRNBit checkpoints and the Llama one). */
class HgrnBitReferenceFixtureTest extends FixtureConformanceSuite {
    @Override
    protected String backend() {
        return ReferenceBackend.NAME;
    }
}
