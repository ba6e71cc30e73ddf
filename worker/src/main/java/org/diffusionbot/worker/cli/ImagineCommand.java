package org.diffusionbot.worker.cli;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.diffusionbot.common.image.GenerationParameters;
import org.diffusionbot.worker.engine.ComputeDevice;
import org.diffusionbot.worker.engine.pipeline.GenerationRequest;
import org.diffusionbot.worker.engine.loaders.ModelLoader;
import org.diffusionbot.worker.engine.pipeline.PipelineCallbacks;
import org.diffusionbot.worker.engine.pipeline.RequestResult;
import org.diffusionbot.worker.engine.pipeline.RgbImage;
import org.diffusionbot.worker.engine.pipeline.StableDiffusionPipeline;
import org.diffusionbot.worker.engine.pipeline.StepView;
import org.diffusionbot.worker.engine.io.ModelFormatException;

/**
 * {@code worker.jar imagine}: one generation from the command line, written as PNG with the
 * Automatic1111 {@code parameters} chunk. Exit codes: 0 done, 2 bad arguments (one line on
 * stderr), 1 the model could not be loaded or the generation failed.
 */
public final class ImagineCommand {
    private ImagineCommand() {}

    /**
     * @param args arguments after {@code imagine}
     * @param out where the written file names go
     * @param err progress, timings and errors
     * @return the exit code
     */
    public static int run(String[] args, PrintStream out, PrintStream err) {
        if (args.length == 1 && (args[0].equals("--help") || args[0].equals("-h"))) {
            out.print(ImagineArgs.USAGE);
            return 0;
        }
        ImagineArgs a;
        try {
            a = ImagineArgs.parse(args);
        } catch (IllegalArgumentException e) {
            err.println("imagine: " + e.getMessage());
            return 2;
        }
        ComputeDevice compute;
        try {
            compute = ComputeDevice.select(a.gpu() ? "gpu" : "cpu");
        } catch (IllegalArgumentException e) {
            err.println("imagine: --device " + (a.gpu() ? "gpu" : "cpu") + ": " + e.getMessage());
            return 2;
        }
        long t0 = System.nanoTime();
        try (StableDiffusionPipeline p = ModelLoader.load(a.model(), compute.dtype(), compute.device(),
                new ModelLoader.Options(a.prediction(), null, a.vae()))) {
            long t1 = System.nanoTime();
            err.printf(Locale.ROOT, "loaded %s in %.1f s%n", p.description(), (t1 - t0) / 1e9);
            int width = a.width(p.nativeSize());
            int height = a.height(p.nativeSize());
            try {
                p.family().checkSize(width, height);
                p.family().checkSteps(a.steps());
                if (a.loraDir() != null || a.embeddingsDir() != null) {
                    p.useAddons(a.loraDir(), a.embeddingsDir(), w -> err.println("note: " + w));
                }
            } catch (IllegalArgumentException | UnsupportedOperationException e) {
                err.println("imagine: " + e.getMessage());
                return 2;
            }
            List<Long> seeds = new ArrayList<>();
            for (int i = 0; i < a.count(); i++) {
                seeds.add(org.diffusionbot.common.GenerationLimits.seedOf(a.seed(), i));
            }
            byte[] init = a.initImage() == null ? null : Files.readAllBytes(a.initImage());
            GenerationRequest req = new GenerationRequest(a.prompt(), a.negative(), seeds, a.cfg(), a.clipSkip(), width,
                    height, a.steps(), a.sampler(), init, a.strength(), a.guidanceRescale(), a.schedule());
            RequestResult res = p.generate(List.of(req), new PipelineCallbacks() {
                @Override
                public void onStep(StepView s) {
                    int width = 30;
                    int done = s.step() * width / s.totalSteps();
                    // heun (two per step) and pndm: count model calls, which is what takes the time
                    err.printf(Locale.ROOT, "\r%s %d/%d [%s%s]", a.sampler().modelCallsFor(a.steps()) == a.steps()
                            ? "step" : "model call", s.step(), s.totalSteps(), "#".repeat(done), "-".repeat(width - done));
                    if (s.step() == s.totalSteps()) {
                        err.println();
                    }
                    err.flush();
                }
            }).get(0);
            long t2 = System.nanoTime();
            res.notes().forEach(n -> err.println("note: " + n));
            if (res instanceof RequestResult.Failure f) {
                err.println("imagine: " + f.message());
                return 1;
            }
            List<RgbImage> images = ((RequestResult.Success) res).images();
            for (int i = 0; i < images.size(); i++) {
                RgbImage img = images.get(i);
                GenerationParameters gp = new GenerationParameters(a.prompt(), a.negative(), a.steps(), a.sampler(), a.cfg(),
                        seeds.get(i), img.width(), img.height(), modelName(a), p.family().effectiveClipSkip(a.clipSkip()),
                        a.strength(), a.schedule(),
                        a.guidanceRescale());
                Files.write(a.outFor(i), gp.toPng(img.width(), img.height(), img.rgb(),
                        p.addons().infotext(a.prompt(), a.negative())));
                out.println(a.outFor(i));
            }
            err.printf(Locale.ROOT, "generated %d image(s) in %.2f s (%.3f s/step)%n", images.size(), (t2 - t1) / 1e9,
                    (t2 - t1) / 1e9 / a.steps());
            return 0;
        } catch (ModelFormatException e) {
            err.println("imagine: cannot load the model: " + e.getMessage());
            return 1;
        } catch (IOException e) {
            err.println("imagine: " + e.getMessage());
            return 1;
        }
    }

    private static String modelName(ImagineArgs a) {
        String n = a.model().getFileName().toString();
        return n.endsWith(".safetensors") ? n.substring(0, n.length() - ".safetensors".length()) : n;
    }
}
