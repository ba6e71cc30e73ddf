package org.diffusionbot.worker;

/** Entry point of {@code worker.jar}. */
public final class WorkerMain {
    private WorkerMain() {
    }

    public static void main(String[] args) {
        System.err.println("usage: worker imagine|run|bench ...");
        System.exit(2);
    }
}
