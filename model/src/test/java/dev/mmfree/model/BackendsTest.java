package dev.mmfree.model;

import org.junit.jupiter.api.Test;

import java.util.HashSet;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Discovery of optional backends, with the three providers of {@link DiscoveredBackends} on the test class path. */
class BackendsTest {
    @Test
    void discoveredBackendComesAfterTheBuiltIns() {
        List<String> names = Backends.names();
        assertTrue(names.contains(DiscoveredBackends.Extra.NAME), names.toString());
        assertEquals(ReferenceBackend.NAME, names.get(0), names.toString());
        int extra = names.indexOf(DiscoveredBackends.Extra.NAME);
        assertInstanceOf(DiscoveredBackends.Extra.class, Backends.byName(DiscoveredBackends.Extra.NAME));
        for (int k = 0; k < extra; k++) {
            assertFalse(Backends.all().get(k) instanceof DiscoveredBackends.Extra, names.toString());
        }
    }

    @Test
    void namesStayUniqueAndTheBuiltInKeepsItsName() {
        List<String> names = Backends.names();
        assertEquals(names.size(), new HashSet<>(names).size(), "duplicate names: " + names);
        assertInstanceOf(ReferenceBackend.class, Backends.byName(ReferenceBackend.NAME));
        assertTrue(Backends.all().stream().noneMatch(DiscoveredBackends.NamedLikeABuiltIn.class::isInstance));
    }

    @Test
    void aBackendThatFailsToLoadIsLeftOut() {
        assertFalse(Backends.names().contains("test-broken"), Backends.names().toString());
    }

    @Test
    void autoNeverPicksADiscoveredBackend() {
        ModelBackend b = Backends.auto();
        assertNotEquals(DiscoveredBackends.Extra.NAME, b.name());
        assertEquals(b, Backends.resolve("auto"));
        assertEquals(DiscoveredBackends.Extra.NAME, Backends.resolve(DiscoveredBackends.Extra.NAME).name());
    }
}
