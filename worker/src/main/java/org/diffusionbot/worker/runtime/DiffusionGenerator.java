package org.diffusionbot.worker.runtime;

import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.function.Predicate;
import org.diffusionbot.common.ModelFamily;
import org.diffusionbot.common.messages.JobFailure;
import org.diffusionbot.common.messages.WorkerHeartbeat;
import org.diffusionbot.common.messages.JobRequest;
import org.diffusionbot.worker.engine.pipeline.GenerationRequest;
import org.diffusionbot.worker.engine.pipeline.PipelineCallbacks;
import org.diffusionbot.worker.engine.pipeline.PreparedRequest;
import org.diffusionbot.worker.engine.pipeline.RequestResult;
import org.diffusionbot.worker.engine.pipeline.RgbImage;
import org.diffusionbot.worker.engine.pipeline.StableDiffusionPipeline;
import org.diffusionbot.worker.engine.pipeline.StepView;

/**
 * The diffusion engine behind the worker runtime: each {@link JobRequest} of a batch becomes one
 * pipeline request with {@code count} images (seeds {@link JobRequest#seedOf}), all run as one UNet
 * batch. A job is converted and tokenized once ({@link #prepare}, when it arrives). Progress goes to
 * each job at every step; a preview (of the job's first image) is rendered only at steps where {@link
 * ProgressListener#previewDue} says one is due for that job.
 * Outcomes: NaN/Inf → {@link JobFailure.Code#NUMERICAL_ERROR}, undecodable init image → {@link
 * JobFailure.Code#INVALID_REQUEST}, cancelled → {@link JobFailure.Code#CANCELLED}; notes (long prompt
 * encoded in chunks, init image resized) travel with the images.
 */
public final class DiffusionGenerator implements ImageGenerator {
    private final StableDiffusionPipeline pipeline;
    private final PipelineCallbacks.PreviewMode previewMode;
    private final boolean closePipeline;

    /**
     * @param pipeline the loaded model
     * @param previewMode how previews are rendered (LATENT_RGB_X2 is cheap and readable)
     * @param closePipeline whether {@link #close()} closes the pipeline
     */
    public DiffusionGenerator(StableDiffusionPipeline pipeline, PipelineCallbacks.PreviewMode previewMode,
            boolean closePipeline) {
        this.pipeline = pipeline;
        this.previewMode = previewMode;
        this.closePipeline = closePipeline;
    }

    /** Cheap ×2 latent previews; closes the pipeline on {@link #close()}. */
    public DiffusionGenerator(StableDiffusionPipeline pipeline) {
        this(pipeline, PipelineCallbacks.PreviewMode.LATENT_RGB_X2, true);
    }

    @Override
    public long loraSwitches() {
        return pipeline.addons().loraSwitches();
    }

    @Override
    public String device() {
        return deviceName(pipeline.device());
    }

    /** How heartbeats show a device: {@code cuda:N} or {@code cpu}. */
    public static String deviceName(ai.djl.Device d) {
        return d.isGpu() ? "cuda:" + d.getDeviceId() : d.getDeviceType();
    }

    /** The pipeline request of a job. */
    public static GenerationRequest toRequest(JobRequest job) {
        List<Long> seeds = new ArrayList<>();
        for (int i = 0; i < job.count(); i++) {
            seeds.add(job.seedOf(i));
        }
        return new GenerationRequest(job.prompt(), job.negativePrompt(), seeds, job.cfg(), job.clipSkip(), job.width(),
                job.height(), job.steps(), job.sampler(), job.initImage(), job.strength(), job.guidanceRescaleOrZero(),
                job.scheduleOrDefault());
    }

    @Override
    public WorkerHeartbeat.ModelInfo modelInfo(String modelName) {
        int side = pipeline.nativeSize();
        return new WorkerHeartbeat.ModelInfo(modelName, pipeline.family().id(), side, side);
    }

    @Override
    public PreparedJob prepare(JobRequest job) {
        PreparedRequest r = pipeline.prepare(toRequest(job));
        return new PreparedJob(job, r.key(), r);
    }

    /**
     * Jobs beyond the model family's limits ({@link ModelFamily#checkSize}, {@link ModelFamily#checkSteps}) fail as
     * invalid requests, with the limit in the message; the others run as one batch. (Clip skip 1 to 12 fits every
     * family's encoders: JobRequest checks it.)
     */
    @Override
    public List<JobOutcome> generate(List<PreparedJob> all, ProgressListener progress, Predicate<UUID> cancelled) {
        ModelFamily family = pipeline.family();
        JobOutcome[] refused = new JobOutcome[all.size()];
        List<PreparedJob> batch = new ArrayList<>();
        for (int i = 0; i < all.size(); i++) {
            JobRequest job = all.get(i).job();
            try {
                family.checkSize(job.width(), job.height());
                family.checkSteps(job.steps());
                batch.add(all.get(i));
            } catch (IllegalArgumentException e) {
                refused[i] = new JobOutcome.Failed(JobFailure.Code.INVALID_REQUEST, e.getMessage());
            }
        }
        List<JobOutcome> ran = batch.isEmpty() ? List.of() : run(batch, progress, cancelled);
        List<JobOutcome> out = new ArrayList<>();
        int k = 0;
        for (JobOutcome r : refused) {
            out.add(r != null ? r : ran.get(k++));
        }
        return out;
    }

    private List<JobOutcome> run(List<PreparedJob> prepared, ProgressListener progress, Predicate<UUID> cancelled) {
        List<JobRequest> batch = prepared.stream().map(PreparedJob::job).toList();
        // a job the runtime could not prepare (it runs alone) is prepared here, where its failure fails the batch
        List<PreparedRequest> requests = prepared.stream()
                .map(p -> p.request() != null ? p.request() : pipeline.prepare(toRequest(p.job()))).toList();
        List<RequestResult> results = pipeline.run(requests, new PipelineCallbacks() {
            @Override
            public boolean isCancelled(int request) {
                return cancelled.test(batch.get(request).jobId());
            }

            @Override
            public boolean previewDue(int request, int step, int totalSteps) {
                return progress.previewDue(batch.get(request).jobId(), step, totalSteps);
            }

            @Override
            public void onStep(StepView s) {
                for (int r = 0; r < batch.size(); r++) {
                    if (!s.isActive(r)) {
                        continue;
                    }
                    JobRequest job = batch.get(r);
                    Preview preview = null;
                    if (previewDue(r, s.step(), s.totalSteps())) {
                        RgbImage p = s.preview(r, 0);
                        preview = new Preview(p.width(), p.height(), p.rgb());
                    }
                    progress.onStep(job.jobId(), s.step(), s.totalSteps(), preview);
                }
            }

            @Override
            public PreviewMode previewMode() {
                return previewMode;
            }
        });
        List<JobOutcome> out = new ArrayList<>();
        for (int r = 0; r < batch.size(); r++) {
            JobRequest job = batch.get(r);
            RequestResult res = results.get(r);
            if (res instanceof RequestResult.Success s) {
                List<JobOutcome.Image> images = new ArrayList<>();
                for (int k = 0; k < s.images().size(); k++) {
                    RgbImage img = s.images().get(k);
                    images.add(new JobOutcome.Image(k, job.seedOf(k), img.width(), img.height(), img.rgb()));
                }
                out.add(new JobOutcome.Succeeded(images, s.notes(),
                        pipeline.addons().infotext(job.prompt(), job.negativePrompt())));
            } else {
                RequestResult.Failure f = (RequestResult.Failure) res;
                JobFailure.Code code = switch (f.reason()) {
                    case NUMERICAL -> JobFailure.Code.NUMERICAL_ERROR;
                    case INVALID_INPUT -> JobFailure.Code.INVALID_REQUEST;
                    case CANCELLED -> JobFailure.Code.CANCELLED;
                };
                out.add(new JobOutcome.Failed(code, f.message()));
            }
        }
        return out;
    }

    @Override
    public void close() {
        if (closePipeline) {
            pipeline.close();
        }
    }
}
