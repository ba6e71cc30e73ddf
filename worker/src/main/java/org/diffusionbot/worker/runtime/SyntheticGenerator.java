package org.diffusionbot.worker.runtime;

import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.function.Predicate;
import org.diffusionbot.common.messages.JobFailure;
import org.diffusionbot.common.messages.JobRequest;

/**
 * A stand-in pipeline with the real one's contract and no model: each "step" takes
 * {@code stepNanos} and images are a gradient derived from the seed. Used to test and benchmark
 * the plumbing (queues, batching, progress, results) without a GPU. A prompt containing
 * {@code [fail]} fails permanently; one containing {@code [crash]} throws (a transient error).
 */
public final class SyntheticGenerator implements ImageGenerator {
    private final long stepNanos;

    public SyntheticGenerator(long stepNanos) {
        this.stepNanos = stepNanos;
    }

    @Override
    public String device() {
        return "synthetic";
    }

    @Override
    public List<JobOutcome> generate(List<PreparedJob> prepared, ProgressListener progress, Predicate<UUID> cancelled)
            throws Exception {
        List<JobRequest> batch = prepared.stream().map(PreparedJob::job).toList();
        for (JobRequest r : batch) {
            if (r.prompt().contains("[crash]")) {
                throw new IllegalStateException("synthetic crash requested by the prompt");
            }
        }
        int steps = batch.get(0).steps();
        boolean[] stopped = new boolean[batch.size()];
        for (int s = 1; s <= steps; s++) {
            if (stepNanos > 0) {
                Thread.sleep(stepNanos / 1_000_000, (int) (stepNanos % 1_000_000));
            }
            for (int i = 0; i < batch.size(); i++) {
                JobRequest r = batch.get(i);
                stopped[i] |= cancelled.test(r.jobId());
                if (!stopped[i]) {
                    boolean preview = progress.previewDue(r.jobId(), s, steps);
                    progress.onStep(r.jobId(), s, steps, preview ? new Preview(8, 8, gradient(8, 8, r.seed())) : null);
                }
            }
        }
        List<JobOutcome> out = new ArrayList<>();
        for (int i = 0; i < batch.size(); i++) {
            JobRequest r = batch.get(i);
            if (stopped[i]) {
                out.add(new JobOutcome.Failed(JobFailure.Code.CANCELLED, "cancelled"));
            } else if (r.prompt().contains("[fail]")) {
                out.add(new JobOutcome.Failed(JobFailure.Code.NUMERICAL_ERROR, "synthetic failure requested by the prompt"));
            } else {
                List<JobOutcome.Image> images = new ArrayList<>();
                for (int k = 0; k < r.count(); k++) {
                    images.add(new JobOutcome.Image(k, r.seedOf(k), r.width(), r.height(),
                            gradient(r.width(), r.height(), r.seedOf(k))));
                }
                out.add(new JobOutcome.Succeeded(images, List.of()));
            }
        }
        return out;
    }

    static byte[] gradient(int w, int h, long seed) {
        byte[] rgb = new byte[w * h * 3];
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int p = (y * w + x) * 3;
                rgb[p] = (byte) (x * 255 / Math.max(1, w - 1));
                rgb[p + 1] = (byte) (y * 255 / Math.max(1, h - 1));
                rgb[p + 2] = (byte) seed;
            }
        }
        return rgb;
    }
}
