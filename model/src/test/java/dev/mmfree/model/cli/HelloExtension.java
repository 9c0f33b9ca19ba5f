package dev.mmfree.model.cli;

import dev.mmfree.runtime.MmfreeException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.util.concurrent.Callable;

/** A subcommand registered through ServiceLoader from test resources, as the bench module registers its own. */
public final class HelloExtension implements CliExtension {
    @Command(name = "hello", description = "Say hello (test extension).")
    static final class Hello implements Callable<Integer> {
        @Option(names = "--fail", description = "Fail with an MmfreeException.")
        boolean fail;

        @Spec
        CommandSpec spec;

        @Override
        public Integer call() {
            if (fail) {
                throw new MmfreeException("hello: asked to fail");
            }
            spec.commandLine().getOut().println("hello");
            return 0;
        }
    }

    @Override
    public Object command() {
        return new Hello();
    }
}
