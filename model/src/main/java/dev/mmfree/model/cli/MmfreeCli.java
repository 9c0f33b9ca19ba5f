package dev.mmfree.model.cli;

import dev.mmfree.runtime.MmfreeException;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ScopeType;

import java.io.PrintWriter;
import java.util.Arrays;
import java.util.ServiceLoader;

/**
 * The {@code mmfree} command line: {@code generate}, {@code logits}, {@code verify}, {@code info}, {@code train}, plus any
 * {@link CliExtension} on the class path.
 *
 * <p>Errors are one line on stderr: a bad flag or value exits 2 (usage), anything else that fails
 * (a missing folder, a bad checkpoint, a device error) exits 1. {@code --debug} adds the stack trace.
 */
@Command(name = "mmfree", subcommands = {GenerateCommand.class, LogitsCommand.class, VerifyCommand.class, InfoCommand.class, TrainCommand.class},
        description = "Run MatMul-free (HGRNBit) and Llama models on CPUs and GPUs.",
        synopsisSubcommandLabel = "COMMAND")
public final class MmfreeCli implements Runnable {
    public static final int EXIT_FAILURE = 1;
    public static final int EXIT_USAGE = 2;

    @Option(names = {"-h", "--help"}, usageHelp = true, scope = ScopeType.INHERIT, description = "Show this help and exit.")
    boolean help;

    @Option(names = "--debug", scope = ScopeType.INHERIT, description = "Print stack traces of errors.")
    boolean debug;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        throw new ParameterException(spec.commandLine(), "missing command: one of " + String.join(", ", spec.subcommands().keySet()));
    }

    public static void main(String[] args) {
        System.setProperty("java.util.logging.SimpleFormatter.format", "%4$s: %5$s%6$s%n");
        if (System.getProperty("slf4j.internal.verbosity") == null) {
            // DJL logs through SLF4J, which has no binding here; without this it warns so on stderr
            System.setProperty("slf4j.internal.verbosity", "ERROR");
        }
        PrintWriter out = new PrintWriter(System.out, true);
        PrintWriter err = new PrintWriter(System.err, true);
        int code = run(out, err, args);
        out.flush();
        err.flush();
        System.exit(code);
    }

    /** Runs one command line with the given streams and returns its exit code (what tests call). */
    public static int run(PrintWriter out, PrintWriter err, String... args) {
        return commandLine(out, err, Arrays.asList(args).contains("--debug")).execute(args);
    }

    static CommandLine commandLine(PrintWriter out, PrintWriter err, boolean debug) {
        CommandLine cl = new CommandLine(new MmfreeCli());
        for (CliExtension ext : ServiceLoader.load(CliExtension.class)) {
            cl.addSubcommand(ext.command());
        }
        cl.setOut(out);
        cl.setErr(err);
        cl.setCaseInsensitiveEnumValuesAllowed(true);
        cl.setParameterExceptionHandler((ex, args) -> {
            CommandLine c = ex.getCommandLine();
            if (debug) {
                ex.printStackTrace(err);
            }
            err.println(c.getCommandSpec().qualifiedName() + ": " + ex.getMessage() + " (see '" + c.getCommandSpec().qualifiedName() + " --help')");
            return EXIT_USAGE;
        });
        cl.setExecutionExceptionHandler((ex, c, parseResult) -> {
            if (debug) {
                ex.printStackTrace(err);
            }
            err.println(c.getCommandSpec().qualifiedName() + ": " + oneLine(ex));
            return EXIT_FAILURE;
        });
        return cl;
    }

    /**
     * The error as one line: an MmfreeException's message, else the exception's type and message; of a
     * message with several lines (an OpenCL build log), the first and a count of the rest.
     */
    static String oneLine(Throwable ex) {
        boolean ours = ex instanceof MmfreeException;
        String msg = ex.getMessage() == null ? "" : ex.getMessage().strip();
        String[] lines = msg.split("\\R");
        String line = ours ? lines[0] : ex.getClass().getSimpleName() + (msg.isEmpty() ? "" : ": " + lines[0]);
        if (lines.length > 1) {
            line += " [" + (lines.length - 1) + " more lines; --debug shows them]";
        } else if (!ours) {
            line += " (--debug for the stack trace)";
        }
        return line;
    }
}
