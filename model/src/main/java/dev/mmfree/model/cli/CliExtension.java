package dev.mmfree.model.cli;

/**
 * A subcommand contributed by another module (the {@code bench} module adds {@code bench}), found with
 * {@link java.util.ServiceLoader}: list the implementing class in
 * {@code META-INF/services/dev.mmfree.model.cli.CliExtension}. The command gets the same error
 * handling as the built-in ones: throw {@link dev.mmfree.runtime.MmfreeException} for a one-line error.
 */
public interface CliExtension {
    /** A picocli command: an instance of a {@code @Command}-annotated class, or a {@code CommandLine}. */
    Object command();
}
