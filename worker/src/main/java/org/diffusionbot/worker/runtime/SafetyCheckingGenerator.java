package org.diffusionbot.worker.runtime;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.function.Predicate;
import org.diffusionbot.common.messages.JobRequest;

/**
 * An {@link ImageGenerator} whose finished images pass the image safety check before they leave the
 * worker: after the wrapped generator ran a batch, the images of every job that needs checking (jobs from
 * channels that are not age-restricted) are checked together, one checker batch per image size, and each
 * gets its {@link JobOutcome.Safety}. Images of other jobs stay unchecked ({@code safety} null). A
 * failing check fails the whole batch as transient (it is retried), so no image is ever reported as
 * checked without having been.
 */
public final class SafetyCheckingGenerator implements ImageGenerator {
    /** The check of same-sized images: one verdict per image, in order (e.g. the safety checker model). */
    @FunctionalInterface
    public interface Check {
        List<JobOutcome.Safety> check(int width, int height, List<byte[]> rgb) throws Exception;
    }

    /** Whether a job's images are checked: those of every job whose channel is not age-restricted. */
    public static boolean needsCheck(JobRequest job) {
        return !job.ageRestricted();
    }

    private final ImageGenerator delegate;
    private final Check check;
    private final Predicate<JobRequest> needsCheck;
    private final AutoCloseable onClose;

    /**
     * @param delegate the generator whose images are checked (closed with this one)
     * @param check the safety check
     * @param needsCheck which jobs' images are checked
     * @param onClose released after the delegate on {@link #close()} (e.g. the checker's weights), or null
     */
    public SafetyCheckingGenerator(ImageGenerator delegate, Check check, Predicate<JobRequest> needsCheck,
            AutoCloseable onClose) {
        this.delegate = delegate;
        this.check = check;
        this.needsCheck = needsCheck;
        this.onClose = onClose;
    }

    @Override
    public String device() {
        return delegate.device();
    }

    @Override
    public boolean checksImages() {
        return true;
    }

    @Override
    public org.diffusionbot.common.messages.WorkerHeartbeat.ModelInfo modelInfo(String modelName) {
        return delegate.modelInfo(modelName);
    }

    @Override
    public PreparedJob prepare(JobRequest job) {
        return delegate.prepare(job);
    }

    @Override
    public List<JobOutcome> generate(List<PreparedJob> batch, ProgressListener progress, Predicate<UUID> cancelled)
            throws Exception {
        List<JobOutcome> outcomes = new ArrayList<>(delegate.generate(batch, progress, cancelled));
        // (job, image) positions of the images to check, by size
        Map<List<Integer>, List<int[]>> bySize = new LinkedHashMap<>();
        for (int j = 0; j < batch.size(); j++) {
            if (outcomes.get(j) instanceof JobOutcome.Succeeded s && needsCheck.test(batch.get(j).job())) {
                for (int k = 0; k < s.images().size(); k++) {
                    JobOutcome.Image img = s.images().get(k);
                    bySize.computeIfAbsent(List.of(img.width(), img.height()), key -> new ArrayList<>())
                            .add(new int[] {j, k});
                }
            }
        }
        List<List<JobOutcome.Image>> checked = new ArrayList<>();
        for (JobOutcome o : outcomes) {
            checked.add(o instanceof JobOutcome.Succeeded s ? new ArrayList<>(s.images()) : null);
        }
        for (Map.Entry<List<Integer>, List<int[]>> e : bySize.entrySet()) {
            List<byte[]> rgb = e.getValue().stream().map(p -> checked.get(p[0]).get(p[1]).rgb()).toList();
            List<JobOutcome.Safety> verdicts = check.check(e.getKey().get(0), e.getKey().get(1), rgb);
            if (verdicts.size() != rgb.size()) {
                throw new IllegalStateException("the safety check returned " + verdicts.size() + " verdicts for "
                        + rgb.size() + " images");
            }
            for (int i = 0; i < verdicts.size(); i++) {
                int[] p = e.getValue().get(i);
                checked.get(p[0]).set(p[1], checked.get(p[0]).get(p[1]).withSafety(verdicts.get(i)));
            }
        }
        for (int j = 0; j < outcomes.size(); j++) {
            if (outcomes.get(j) instanceof JobOutcome.Succeeded s) {
                outcomes.set(j, new JobOutcome.Succeeded(List.copyOf(checked.get(j)), s.notes(), s.infotext()));
            }
        }
        return outcomes;
    }

    @Override
    public void close() {
        delegate.close();
        if (onClose != null) {
            try {
                onClose.close();
            } catch (Exception e) {
                throw new IllegalStateException("cannot release the safety checker", e);
            }
        }
    }
}
