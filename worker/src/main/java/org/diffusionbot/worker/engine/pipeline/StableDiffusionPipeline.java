package org.diffusionbot.worker.engine.pipeline;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.function.Consumer;
import org.diffusionbot.common.ModelFamily;
import org.diffusionbot.common.Sampler;
import org.diffusionbot.common.Schedule;
import org.diffusionbot.worker.engine.cuda.CudaGraphUNet;
import org.diffusionbot.worker.engine.cuda.GraphPool;
import org.diffusionbot.worker.engine.cuda.NativeOps;
import org.diffusionbot.worker.engine.lora.Embeddings;
import org.diffusionbot.worker.engine.lora.LoraPatcher;
import org.diffusionbot.worker.engine.lora.ModelFolder;
import org.diffusionbot.worker.engine.lora.PromptAddons;
import org.diffusionbot.worker.engine.models.ClipTextEncoder;
import org.diffusionbot.worker.engine.models.Conditioning;
import org.diffusionbot.worker.engine.models.StableDiffusionModels;
import org.diffusionbot.worker.engine.random.TorchGenerator;
import org.diffusionbot.worker.engine.schedulers.Scheduler;
import org.diffusionbot.worker.engine.schedulers.SchedulerConfig;
import org.diffusionbot.worker.engine.schedulers.Schedulers;
import org.diffusionbot.worker.engine.text.ClipTokenizer;
import org.diffusionbot.worker.engine.text.PromptChunker;
import org.diffusionbot.worker.engine.text.PromptEncoder;
import org.diffusionbot.worker.engine.text.TextualInversion;

/**
 * Text-to-image and image-to-image with the semantics of diffusers' {@code StableDiffusionPipeline}
 * and {@code StableDiffusionImg2ImgPipeline}, for a batch of requests that share size, steps,
 * sampler and strength.
 *
 * <p>One {@link #generate} call is one UNet batch: for N images (all seeds of all requests) the UNet
 * sees 2N rows {@code [negative_0..negative_{N-1}, positive_0..positive_{N-1}]} and the guided noise
 * is {@code eps_neg + cfg·(eps_pos − eps_neg)} with each image's own cfg. As in diffusers, a
 * guidance scale ≤ 1 means no guidance (the positive prediction alone); when no request of the
 * batch uses guidance the negative rows are not computed at all.
 *
 * <p>Prompts: Automatic1111's emphasis syntax ({@code (word)}, {@code (word:1.3)}, {@code [word]},
 * {@code BREAK}) and prompts longer than 75 tokens, encoded in 75-token chunks (see {@link
 * PromptEncoder}); diffusers parses neither, but a prompt without that syntax and within 75 tokens
 * is encoded exactly as diffusers encodes it.
 *
 * <p>Random numbers: every image has its own {@link TorchGenerator} seeded with its seed, drawing
 * exactly what diffusers draws with {@code generator=[torch.Generator("cpu").manual_seed(seed), ...]}:
 * txt2img draws the initial noise {@code randn(1, 4, h/8, w/8)} (times {@code init_noise_sigma});
 * img2img first draws the VAE latent sample ({@code retrieve_latents(..., sample_mode="sample")}:
 * {@code mean + std·randn}) and then the noise added at the first remaining timestep; ancestral
 * samplers then draw their per-step noise from the same generator.
 *
 * <p>Precision: latents, scheduler arithmetic and guidance are float32 whatever the model dtype; UNet
 * inputs are cast to the model dtype and its output back to float32; the final decode input is
 * computed in float32 and cast to the VAE's dtype. Memory: every run allocates under one manager
 * that is closed before {@code generate} returns; per step, intermediates live in a sub-manager.
 * Nothing is copied to the host inside the step loop unless a callback asks (previews, tests).
 *
 * <p>A run reads as its phases ({@link #run}): prepare rows ({@link BatchRows}: the batch's LoRA set,
 * init images, one row per image with its generator and guidance), encode prompts ({@link
 * TextConditioner}), prepare latents ({@link InitialLatents}), denoise ({@link Denoiser}, each step's
 * callback seeing a {@link StepPreview}), decode ({@link LatentDecoder}). Encoding, latents, denoising and decoding
 * are each a {@link org.diffusionbot.worker.engine.cuda.KernelProfiler} range ({@code text}, {@code latents},
 * {@code denoise}, {@code decode}; inside denoise {@code step} per step and {@code preview} per preview rendered)
 * and, with {@link #setPhaseTimer}, a timed phase.
 *
 * <p>Not thread-safe: run one {@code generate} at a time per instance.
 */
public final class StableDiffusionPipeline implements AutoCloseable {
    /** Message of a request whose latents or image contain NaN/Inf. */
    public static final String NUMERICAL_ERROR_MESSAGE = "the model produced NaN/Inf values (often a float16 overflow "
            + "in the UNet or VAE); try another seed, sampler or guidance scale, or run the model in float32";

    private final StableDiffusionModels models;
    private final ClipTokenizer tokenizer;
    /** Prompts → the UNet's conditioning, for the model's family (rebuilt by {@link #useAddons}). */
    private TextConditioner conditioner;
    private final ClipTokenizer tokenizer2;
    /** LoRAs and embeddings named in prompts ({@link #useAddons}). */
    private PromptAddons addons = PromptAddons.NONE;
    /** Owner of the embedding vectors the encoders use. */
    private NDManager addonArrays;
    private final SchedulerConfig schedulerConfig;
    private final DataType dtype;
    private final Device device;
    private final String description;
    private final CudaGraphUNet unetRunner;
    private final PipelineOptions options;
    /** The VAE decode (latents to bytes on the device), through CUDA graphs in the UNet's pool where they are on. */
    private final VaeDecode vaeDecode;
    /**
     * The decode phase: up to {@link PipelineOptions#decodeBatch()} images per VAE call on CUDA, one on the CPU
     * ({@link #setDecodeBatch}).
     */
    private LatentDecoder decoder;
    /** Step callbacks one step late, x0 copied ahead for previews ({@link PipelineOptions#asyncPreviews()}). */
    private boolean asyncPreviews;
    /** The prompt K|V made once per denoising loop ({@link PipelineOptions#promptKv()}). */
    private boolean promptKv;
    private Denoiser.LatentsHook latentsHook;
    /** Times the phases of a run ({@link #setPhaseTimer}), or null. */
    private PhaseTimer phaseTimer;

    /**
     * @param models loaded networks (closed by {@link #close()})
     * @param tokenizer the CLIP tokenizer of the text encoder
     * @param schedulerConfig noise schedule and prediction type of the model
     * @param dtype model dtype (float32 on CPU; float16 on CUDA)
     * @param device where the models live and the run computes
     * @param description e.g. the model path, for logs
     */
    public StableDiffusionPipeline(StableDiffusionModels models, ClipTokenizer tokenizer, SchedulerConfig schedulerConfig,
            DataType dtype, Device device, String description) {
        this(models, tokenizer, null, schedulerConfig, dtype, device, description);
    }

    /**
     * @param models loaded networks (closed by {@link #close()})
     * @param tokenizer the CLIP tokenizer of the (first) text encoder
     * @param tokenizer2 SDXL's second tokenizer (the same vocabulary, padding with {@code !}); required
     *     when the models have a second text encoder, else null
     * @param schedulerConfig noise schedule and prediction type of the model
     * @param dtype model dtype (float32 on CPU; float16 on CUDA)
     * @param device where the models live and the run computes
     * @param description e.g. the model path, for logs
     */
    public StableDiffusionPipeline(StableDiffusionModels models, ClipTokenizer tokenizer, ClipTokenizer tokenizer2,
            SchedulerConfig schedulerConfig, DataType dtype, Device device, String description) {
        this(models, tokenizer, tokenizer2, schedulerConfig, dtype, device, description, PipelineOptions.DEFAULTS);
    }

    /**
     * @param models loaded networks (closed by {@link #close()})
     * @param tokenizer the CLIP tokenizer of the (first) text encoder
     * @param tokenizer2 SDXL's second tokenizer, or null (as above)
     * @param schedulerConfig noise schedule and prediction type of the model
     * @param dtype model dtype (float32 on CPU; float16 on CUDA)
     * @param device where the models live and the run computes
     * @param description e.g. the model path, for logs
     * @param options CUDA graphs, decode batch, asynchronous previews and LoRA cache ({@link
     *     PipelineOptions#fromSettings()} in the worker; the loader laid the models out by the same options)
     */
    public StableDiffusionPipeline(StableDiffusionModels models, ClipTokenizer tokenizer, ClipTokenizer tokenizer2,
            SchedulerConfig schedulerConfig, DataType dtype, Device device, String description, PipelineOptions options) {
        this(models, tokenizer, tokenizer2, schedulerConfig, dtype, device, description, options, new GraphPool());
    }

    /**
     * As above, with the memory pool (and device calls) of the UNet's and the VAE decoder's CUDA graphs given: the
     * library's in the worker ({@link GraphPool#GraphPool()}), a fake one in tests of the graph path on the CPU.
     */
    StableDiffusionPipeline(StableDiffusionModels models, ClipTokenizer tokenizer, ClipTokenizer tokenizer2,
            SchedulerConfig schedulerConfig, DataType dtype, Device device, String description, PipelineOptions options,
            GraphPool graphPool) {
        this.models = Objects.requireNonNull(models);
        this.tokenizer = Objects.requireNonNull(tokenizer);
        PromptEncoder promptEncoder = new PromptEncoder(new PromptChunker(tokenizer), models.textEncoder());
        if ((models.textEncoder2() == null) != (tokenizer2 == null)) {
            throw new IllegalArgumentException("a second tokenizer goes with a second text encoder");
        }
        this.tokenizer2 = tokenizer2;
        this.conditioner = TextConditioner.of(promptEncoder, tokenizer2 == null ? null
                : new PromptEncoder(new PromptChunker(tokenizer2), models.textEncoder2()), dtype);
        this.schedulerConfig = Objects.requireNonNull(schedulerConfig);
        this.dtype = dtype;
        this.device = device;
        this.description = description;
        this.options = Objects.requireNonNull(options);
        // one memory pool for the UNet's and the VAE decoder's graphs: replayed one at a time on one stream, and each
        // output consumed before the next replay (GraphPool), they share the memory of their activations
        this.unetRunner = new CudaGraphUNet(models.unet(), device, options.cudaGraphs(), options.cudaGraphsMax(),
                graphPool);
        this.vaeDecode = new VaeDecode(models.vae(), device, options.vaeGraphsWanted(), options.cudaGraphsMax(),
                graphPool);
        setDecodeBatch(options.decodeBatch());
        this.asyncPreviews = options.asyncPreviews();
        this.promptKv = options.promptKv();
    }

    /**
     * Uses LoRAs and textual-inversion embeddings named in prompts: each batch's LoRA set is put on
     * the model before it runs ({@link PromptAddons#prepare}), every {@code <lora:…>} tag is cut from
     * the text, and the embeddings' names trigger their vectors in the text encoder(s) (SDXL: the
     * first of each embedding's vector sets for the first encoder, the second for the second). The
     * pipeline closes the add-ons when it is closed.
     *
     * @param addons the add-ons; their embeddings must have one vector set per text encoder
     */
    public void useAddons(PromptAddons addons) {
        NDManager arrays = NDManager.newBaseManager(device);
        try {
            PromptEncoder one = encoderWith(tokenizer, models.textEncoder(), 0, addons, arrays);
            PromptEncoder two = tokenizer2 == null ? null : encoderWith(tokenizer2, models.textEncoder2(), 1, addons, arrays);
            this.conditioner = TextConditioner.of(one, two, dtype);
        } catch (RuntimeException e) {
            arrays.close();
            throw e;
        }
        if (this.addons != addons) {
            this.addons.close();
        }
        if (addonArrays != null) {
            addonArrays.close();
        }
        this.addons = addons;
        this.addonArrays = arrays;
    }

    /**
     * Uses the LoRAs of {@code loraDir} and the embeddings of {@code embeddingsDir} that fit this model
     * ({@link #useAddons(PromptAddons)}); embeddings that do not fit (another family, a pickle) are
     * left out, each with one line to {@code warn}.
     *
     * @param loraDir LoRA folder, or null (then a prompt naming a LoRA fails with the reason)
     * @param embeddingsDir embeddings folder, or null
     * @param warn receives one line per embedding left out
     */
    public void useAddons(Path loraDir, Path embeddingsDir, Consumer<String> warn) {
        ModelFolder embeddingFolder = embeddingsDir == null ? null
                : new ModelFolder(embeddingsDir, "embedding");
        int[] widths = sdxl() ? new int[] {models.textEncoder().config().hiddenSize(),
                models.textEncoder2().config().hiddenSize()} : new int[] {models.textEncoder().config().hiddenSize()};
        List<Embeddings.Embedding> embeddings = embeddingFolder == null ? List.of()
                : Embeddings.load(embeddingFolder, widths, warn);
        LoraPatcher loras = null;
        if (loraDir != null) {
            loras = new LoraPatcher(models.patchable(),
                    new ModelFolder(loraDir, "LoRA"), device, options.loraCacheBytes());
        }
        useAddons(new PromptAddons(loras, embeddingFolder, embeddings));
    }

    /** @return the add-ons in use ({@link PromptAddons#NONE} until {@link #useAddons}) */
    public PromptAddons addons() {
        return addons;
    }

    private PromptEncoder encoderWith(ClipTokenizer tok, ClipTextEncoder encoder,
            int index, PromptAddons a, NDManager arrays) {
        List<TextualInversion.Vectors> vectors = new ArrayList<>();
        for (Embeddings.Embedding e : a.embeddings()) {
            vectors.add(new TextualInversion.Vectors(e.name(), e.perEncoder().get(index)));
        }
        var config = encoder.config();
        var ti = TextualInversion.of(tok, config.vocabSize(), config.hiddenSize(),
                vectors);
        return new PromptEncoder(new PromptChunker(tok).withEmbeddings(ti), encoder, arrays, dtype, device);
    }

    /** Whether the model is SDXL (a second text encoder, added conditioning, SDXL's latent space). */
    public boolean sdxl() {
        return models.textEncoder2() != null;
    }

    /** The model's family: SDXL with a second text encoder, SD 2.x with an OpenCLIP (gelu) one, else SD 1.x. */
    public ModelFamily family() {
        return family(sdxl(), models.textEncoder().config().hiddenAct());
    }

    /**
     * The family of a model from its text encoders (the rule of {@link #family()}, for a model described from its
     * configs or file header without loading it): SDXL with a second text encoder, SD 2.x when the (first) one is
     * OpenCLIP ({@code hidden_act} {@code gelu}), else SD 1.x.
     *
     * @param secondTextEncoder whether the model has a second text encoder
     * @param textHiddenAct the first text encoder's {@code hidden_act} ({@code quick_gelu} or {@code gelu})
     */
    public static ModelFamily family(boolean secondTextEncoder, String textHiddenAct) {
        if (secondTextEncoder) {
            return ModelFamily.SDXL;
        }
        return textHiddenAct.equals("gelu") ? ModelFamily.SD2 : ModelFamily.SD1;
    }

    /**
     * The image side the model was trained at: the UNet config's {@code sample_size} × 8 when it says
     * (diffusers folders), else the family's (SD 2.x: 768 for v-prediction models, 512 otherwise).
     */
    public int nativeSize() {
        return nativeSize(family(), models.unet().config().sampleSize(), schedulerConfig.predictionType());
    }

    /**
     * The rule of {@link #nativeSize()}, for a model described without loading it: {@code sample_size} × 8 when
     * given, else the family's (SD 2.x: 768 px for v-prediction, 512 px otherwise).
     *
     * @param family the model's family ({@link #family(boolean, String)})
     * @param unetSampleSize the UNet config's {@code sample_size} (latent side), 0 when it does not say
     * @param prediction the scheduler config's prediction type
     * @return the side in pixels
     */
    public static int nativeSize(ModelFamily family, int unetSampleSize, SchedulerConfig.PredictionType prediction) {
        if (unetSampleSize > 0) {
            return unetSampleSize * 8;
        }
        if (family == ModelFamily.SD2 && prediction != SchedulerConfig.PredictionType.V_PREDICTION) {
            return 512;
        }
        return family.nativeSize();
    }

    /**
     * Turns {@link PipelineOptions#asyncPreviews()} off or back on for the runs that follow (the benchmark's A/B; a
     * pipeline takes it from its options at load).
     */
    public void setAsyncPreviews(boolean on) {
        asyncPreviews = on;
    }

    /**
     * Turns {@link PipelineOptions#promptKv()} off or back on for the runs that follow (A/Bs and tests; a pipeline
     * takes it from its options at load). CUDA graphs need no clearing: with and without a prompt K|V the UNet's calls have
     * different signatures, so each has its own graphs.
     */
    public void setPromptKv(boolean on) {
        promptKv = on;
    }

    /**
     * Sets how many images the decode phase gives the VAE per call for the runs that follow ({@link
     * PipelineOptions#decodeBatch()}, which a pipeline takes at load; the benchmark's A/B sets another): on CUDA up to
     * {@code images} ({@link LatentDecoder#imagesPerCall}), on the CPU always one.
     *
     * @param images images per VAE call at most, at least 1
     * @throws IllegalArgumentException for {@code images} below 1
     */
    public void setDecodeBatch(int images) {
        if (images < 1) {
            throw new IllegalArgumentException("images per VAE call must be at least 1: " + images);
        }
        decoder = new LatentDecoder(vaeDecode, device.isGpu() ? images : 1);
    }

    /**
     * Times the phases of the runs that follow ({@link PhaseTimer}: text, latents, denoise, decode, and the step
     * previews inside denoise), synchronising the device at each phase boundary only if the timer was made to.
     *
     * @param timer the timer, or null (the default: no timing; the phases are still profiler ranges)
     */
    public void setPhaseTimer(PhaseTimer timer) {
        phaseTimer = timer;
    }

    /** The UNet as the step loop calls it (through CUDA graphs where available). */
    public CudaGraphUNet unetRunner() {
        return unetRunner;
    }

    /** The VAE decode as the decode phase and full previews call it (through CUDA graphs where available). */
    public VaeDecode vaeDecode() {
        return vaeDecode;
    }

    /**
     * Destroys the captured CUDA graphs of the UNet and the VAE decoder (their memory pool with the last of them); the
     * next call of each shape captures again (the benchmark, to measure one batch's memory alone).
     */
    public void clearGraphs() {
        unetRunner.clearGraphs();
        vaeDecode.graphs().clear();
    }

    /**
     * Every FP8 path on ({@code true}), off ({@code false}) or as configured ({@code null}: {@link NativeOps#setFp8},
     * over {@link NativeOps#FP8_PATHS}), and this pipeline made to match: the UNet's FP8 companions made where a path
     * is now on and applies ({@code UNet2DConditionModel.prepareFp8Linears} and {@code prepareFp8Convs}; companions
     * made before stay, unused while their path is off) and the captured CUDA graphs cleared (they keep the path they
     * were captured with). For A/Bs of one pipeline (the bench's one image with FP8 on against off, the doctor's FP8-off
     * run); the caller restores with {@code null}. Not while the pipeline generates.
     *
     * @return whether the UNet has FP8 companions now (none where no transformer or ResNet block fits an FP8 path or
     *     it was never on)
     */
    public boolean setFp8(Boolean on) {
        NativeOps.setFp8(on);
        boolean companions = models.unet().prepareFp8Linears() | models.unet().prepareFp8Convs(); // (both made)
        clearGraphs();
        return companions;
    }

    /** @return the options it was made with */
    public PipelineOptions options() {
        return options;
    }

    public StableDiffusionModels models() {
        return models;
    }

    public ClipTokenizer tokenizer() {
        return tokenizer;
    }

    public SchedulerConfig schedulerConfig() {
        return schedulerConfig;
    }

    public DataType dtype() {
        return dtype;
    }

    public Device device() {
        return device;
    }

    public String description() {
        return description;
    }

    void setLatentsHook(Denoiser.LatentsHook hook) {
        this.latentsHook = hook;
    }

    /**
     * The first step index and the timesteps an img2img run of this strength uses (diffusers'
     * {@code get_timesteps}); strength null: txt2img.
     */
    public float[] timestepsFor(Sampler sampler, int steps, Double strength) {
        return timestepsFor(sampler, Schedule.DEFAULT, steps, strength);
    }

    /** {@link #timestepsFor(Sampler, int, Double)} with a schedule. */
    public float[] timestepsFor(Sampler sampler, Schedule schedule,
            int steps, Double strength) {
        try (Scheduler s = Schedulers.create(sampler, schedule, schedulerConfig, steps)) {
            int first = strength == null ? 0 : s.firstStepForStrength(strength);
            float[] all = s.timesteps();
            return Arrays.copyOfRange(all, Math.min(first, all.length), all.length);
        }
    }

    /**
     * The number of 75-token chunks the request's context has on its own: the longer of its prompt and
     * negative prompt. Requests with different counts can share a batch, but every prompt is then padded
     * to the batch's largest count, which changes the images of the shorter ones.
     */
    public int promptChunks(GenerationRequest r) {
        return prepare(r).key().promptChunks();
    }

    /**
     * Tokenizes a request's prompts with the model's text encoders, once: what {@link #run} takes, with
     * the request's {@link BatchKey}.
     */
    public PreparedRequest prepare(GenerationRequest r) {
        return new PreparedRequest(r, conditioner.tokenize(r));
    }

    /** {@link #run} of the requests, each {@link #prepare}d. */
    public List<RequestResult> generate(List<GenerationRequest> requests, PipelineCallbacks callbacks) {
        return run(requests.stream().map(this::prepare).toList(), callbacks);
    }

    /**
     * Runs the requests as one batch.
     *
     * @param prepared requests sharing size, steps, sampler, schedule and strength ({@link BatchKey#sameRun})
     * @param callbacks progress, previews and cancellation
     * @return one result per request, in order; problems of one request (unreadable init image,
     *     NaN/Inf, cancellation) are results, not exceptions
     * @throws IllegalArgumentException if the requests cannot share a batch
     */
    public List<RequestResult> run(List<PreparedRequest> prepared, PipelineCallbacks callbacks) {
        if (prepared.isEmpty()) {
            return List.of();
        }
        for (PreparedRequest r : prepared) {
            if (!prepared.get(0).key().sameRun(r.key())) {
                throw new IllegalArgumentException("requests of one batch must share size, steps, sampler, schedule and strength");
            }
        }
        PipelineCallbacks cb = callbacks == null ? PipelineCallbacks.NONE : callbacks;
        BatchRows rows = new BatchRows(prepared);
        GenerationRequest head = rows.head();

        // 1. prepare rows: the batch's LoRA set on the model (one per batch; a set that cannot be applied fails
        // every request), img2img's init images (an unreadable one fails its request only), one row per image
        String refused = addons.prepare(rows.requests().stream().map(q -> new String[] {q.prompt(), q.negativePrompt()})
                .toList());
        if (refused != null) {
            rows.failAll(RequestResult.Reason.INVALID_INPUT, refused);
            return rows.finish();
        }
        if (head.strength() != null) {
            rows.decodeInitImages();
        }
        rows.assignRows();
        if (rows.size() == 0) {
            return rows.finish();
        }
        Shape one = new Shape(1, models.unet().config().inChannels(), head.height() / 8, head.width() / 8);
        try (NDManager run = NDManager.newBaseManager(device);
                Scheduler sched = Schedulers.create(head.sampler(), head.schedule(), schedulerConfig)) {
            sched.setTimesteps(head.steps());
            int first = head.strength() == null ? 0 : sched.firstStepForStrength(head.strength());
            if (sched.numSteps() - first <= 0) {
                rows.failAll(RequestResult.Reason.INVALID_INPUT, "strength " + head.strength() + " with " + head.steps()
                        + " steps runs no denoising step; raise the strength or the steps");
                return rows.finish();
            }
            PhaseTimer timer = phaseTimer; // each phase also a profiler range of its name
            // 2. encode prompts
            Conditioning cond;
            try (PhaseTimer.Span p = PhaseTimer.phase(timer, "text")) {
                cond = conditioner.encode(run, prepared, rows.notes(), rows.requestOfRow(), rows.useCfg());
            }
            // 3. prepare latents
            NDArray x;
            try (PhaseTimer.Span p = PhaseTimer.phase(timer, "latents")) {
                x = head.strength() == null
                        ? InitialLatents.txt2img(run, sched, rows.generators(), one)
                        : InitialLatents.img2img(run, sched, first, rows, models.vae(), one);
            }
            // 4. denoise
            try (PhaseTimer.Span p = PhaseTimer.phase(timer, "denoise")) {
                x = new Denoiser(unetRunner, dtype, latentsHook, asyncPreviews, promptKv).denoise(run, sched, first,
                        cond, x, new StepPreview.Run(rows, cb, sdxl(), decoder, timer));
            }
            // 5. decode
            try (PhaseTimer.Span p = PhaseTimer.phase(timer, "decode")) {
                decoder.decode(run, x, rows);
            }
        }
        return rows.finish();
    }

    @Override
    public void close() {
        addons.close(); // the checkpoint's own weights back before the models go
        if (addonArrays != null) {
            addonArrays.close();
        }
        unetRunner.close();
        vaeDecode.close();
        models.close();
    }
}
