package org.diffusionbot.worker;

import org.diffusionbot.common.config.ConfigException;
import org.diffusionbot.common.config.Env;

/** Entry point of {@code worker.jar}: {@code run} (consume jobs) and the tools beside it. */
public final class WorkerMain {
    static final String USAGE = """
            usage: java -jar worker.jar <command> [options]
              run       consume jobs from RabbitMQ (configured by environment variables, see README)
              imagine   generate image(s) from the command line (imagine --help for the options)
              bench     GPU benchmark against diffusers (see docs/GPU.md)
              doctor    check the GPU setup (libtorch, CUDA devices, native ops, a tiny model on GPU vs CPU);
                        exit 0: GPU with the fast path, 1: the last line says what to change, 3: no GPU
            """;

    private WorkerMain() {
    }

    public static void main(String[] args) {
        System.exit(run(args));
    }

    static int run(String[] args) {
        if (args.length == 0 || args[0].equals("--help") || args[0].equals("-h")) {
            System.err.print(USAGE);
            return args.length == 0 ? 2 : 0;
        }
        try {
            switch (args[0]) {
                case "run" -> {
                    return RunCommand.run(Env.system());
                }
                case "imagine" -> {
                    return org.diffusionbot.worker.cli.ImagineCommand.run(
                            java.util.Arrays.copyOfRange(args, 1, args.length), System.out, System.err);
                }
                case "doctor" -> {
                    return org.diffusionbot.worker.doctor.DoctorCommand.run(
                            java.util.Arrays.copyOfRange(args, 1, args.length), System.out);
                }
                case "bench" -> {
                    return org.diffusionbot.worker.bench.GpuBench.run(
                            java.util.Arrays.copyOfRange(args, 1, args.length), System.out);
                }
                default -> {
                    System.err.println("worker: unknown command '" + args[0] + "'");
                    System.err.print(USAGE);
                    return 2;
                }
            }
        } catch (ConfigException e) {
            System.err.println("worker: " + e.getMessage());
            return 2;
        } catch (java.io.IOException e) {
            System.err.println("worker: " + e.getMessage());
            return 1;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return 1;
        }
    }
}
