package dev.mmfree.model.hgrn;

import dev.mmfree.model.FixtureConformanceSuite;
import dev.mmfree.model.Fixtures;
import dev.mmfree.model.ModelLoader;
import dev.mmfree.model.TornadoBackend;
import dev.mmfree.model.checkpoint.ModelFolder;
import dev.mmfree.model.config.HgrnBitConfig;
import org.junit.jupiter.api.BeforeEach;

import static dev.mmfree.kernels.tornado.TornadoTesting.requireTornado;

/** The tornado backend on the HGRNBit fixtures; the Llama one is skipped by design (no attention kernels on TornadoVM). */
class HgrnBitTornadoFixtureTest extends FixtureConformanceSuite {
    @BeforeEach
    void tornado() {
        requireTornado();
    }

    @Override
    protected String backend() {
        return TornadoBackend.NAME;
    }

    /** HGRNBit checkpoints only, decided by the fixture's config.json model_type. */
    @Override
    protected boolean supports(String fixture) {
        try (ModelFolder folder = ModelFolder.open(Fixtures.dir().resolve(fixture))) {
            return ModelLoader.modelType(folder).equals(HgrnBitConfig.MODEL_TYPE);
        }
    }
}
