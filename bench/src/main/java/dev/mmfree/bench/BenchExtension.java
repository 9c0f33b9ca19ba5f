package dev.mmfree.bench;

import dev.mmfree.model.cli.CliExtension;

/** Adds {@code bench} to the {@code mmfree} command line. */
public final class BenchExtension implements CliExtension {
    @Override
    public Object command() {
        return new BenchCommand();
    }
}
