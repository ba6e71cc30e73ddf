package org.diffusionbot.worker.engine.pipeline;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.diffusionbot.common.ModelFamily;
import org.diffusionbot.worker.engine.cuda.CudaGraphUNet;
import org.diffusionbot.worker.engine.models.Conditioning;
import org.diffusionbot.worker.engine.models.StableDiffusionModels;
import org.diffusionbot.worker.engine.random.TorchGenerator;
import org.diffusionbot.worker.engine.schedulers.NoiseSource;
import org.diffusionbot.worker.engine.schedulers.Scheduler;
import org.diffusionbot.worker.engine.schedulers.SchedulerConfig;
import org.diffusionbot.worker.engine.schedulers.Schedulers;
import org.diffusionbot.worker.engine.schedulers.StepResult;
import org.diffusionbot.worker.engine.text.ClipTokenizer;
import org.diffusionbot.worker.engine.text.PromptChunker;
import org.diffusionbot.worker.engine.lora.PromptAddons;
import org.diffusionbot.worker.engine.text.PromptEncoder;

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
    /** Images per VAE decode call: 1 (peak memory), more on CUDA ({@link PipelineOptions#decodeBatch()}). */
    private final int decodeBatch;
    private LatentsHook latentsHook;

    /** Test hook: may replace the latents after a step (e.g. to force NaN). */
    @FunctionalInterface
    interface LatentsHook {
        NDArray apply(int stepIndex, NDArray latents, int[] requestOfRow);
    }

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
     * @param options CUDA graphs and decode batch ({@link PipelineOptions#fromSettings()} in the worker)
     */
    public StableDiffusionPipeline(StableDiffusionModels models, ClipTokenizer tokenizer, ClipTokenizer tokenizer2,
            SchedulerConfig schedulerConfig, DataType dtype, Device device, String description, PipelineOptions options) {
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
        this.unetRunner = new CudaGraphUNet(models.unet(), device, options.cudaGraphsMax());
        this.decodeBatch = device.isGpu() ? options.decodeBatch() : 1;
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
    public void useAddons(java.nio.file.Path loraDir, java.nio.file.Path embeddingsDir,
            java.util.function.Consumer<String> warn) {
        org.diffusionbot.worker.engine.lora.ModelFolder embeddingFolder = embeddingsDir == null ? null
                : new org.diffusionbot.worker.engine.lora.ModelFolder(embeddingsDir, "embedding");
        int[] widths = sdxl() ? new int[] {models.textEncoder().config().hiddenSize(),
                models.textEncoder2().config().hiddenSize()} : new int[] {models.textEncoder().config().hiddenSize()};
        List<org.diffusionbot.worker.engine.lora.Embeddings.Embedding> embeddings = embeddingFolder == null ? List.of()
                : org.diffusionbot.worker.engine.lora.Embeddings.load(embeddingFolder, widths, warn);
        org.diffusionbot.worker.engine.lora.LoraPatcher loras = null;
        if (loraDir != null) {
            loras = new org.diffusionbot.worker.engine.lora.LoraPatcher(models.patchable(),
                    new org.diffusionbot.worker.engine.lora.ModelFolder(loraDir, "LoRA"), device);
        }
        useAddons(new PromptAddons(loras, embeddingFolder, embeddings));
    }

    /** @return the add-ons in use ({@link PromptAddons#NONE} until {@link #useAddons}) */
    public PromptAddons addons() {
        return addons;
    }

    private PromptEncoder encoderWith(ClipTokenizer tok, org.diffusionbot.worker.engine.models.ClipTextEncoder encoder,
            int index, PromptAddons a, NDManager arrays) {
        List<org.diffusionbot.worker.engine.text.TextualInversion.Vectors> vectors = new ArrayList<>();
        for (org.diffusionbot.worker.engine.lora.Embeddings.Embedding e : a.embeddings()) {
            vectors.add(new org.diffusionbot.worker.engine.text.TextualInversion.Vectors(e.name(), e.perEncoder().get(index)));
        }
        var config = encoder.config();
        var ti = org.diffusionbot.worker.engine.text.TextualInversion.of(tok, config.vocabSize(), config.hiddenSize(),
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

    /** The UNet as the step loop calls it (through CUDA graphs where available). */
    public CudaGraphUNet unetRunner() {
        return unetRunner;
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

    void setLatentsHook(LatentsHook hook) {
        this.latentsHook = hook;
    }

    /**
     * The first step index and the timesteps an img2img run of this strength uses (diffusers'
     * {@code get_timesteps}); strength null: txt2img.
     */
    public float[] timestepsFor(org.diffusionbot.common.Sampler sampler, int steps, Double strength) {
        return timestepsFor(sampler, org.diffusionbot.common.Schedule.DEFAULT, steps, strength);
    }

    /** {@link #timestepsFor(org.diffusionbot.common.Sampler, int, Double)} with a schedule. */
    public float[] timestepsFor(org.diffusionbot.common.Sampler sampler, org.diffusionbot.common.Schedule schedule,
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
        List<GenerationRequest> requests = prepared.stream().map(PreparedRequest::request).toList();
        GenerationRequest head = requests.get(0);
        for (PreparedRequest r : prepared) {
            if (!prepared.get(0).key().sameRun(r.key())) {
                throw new IllegalArgumentException("requests of one batch must share size, steps, sampler, schedule and strength");
            }
        }
        PipelineCallbacks cb = callbacks == null ? PipelineCallbacks.NONE : callbacks;
        int nReq = requests.size();
        RequestResult[] results = new RequestResult[nReq];
        List<List<String>> notes = new ArrayList<>();
        for (int r = 0; r < nReq; r++) {
            notes.add(new ArrayList<>());
        }
        // the batch's LoRA set on the model (one set per batch); a set that cannot be applied fails every request
        String refused = addons.prepare(requests.stream().map(q -> new String[] {q.prompt(), q.negativePrompt()}).toList());
        if (refused != null) {
            List<RequestResult> out = new ArrayList<>();
            for (int r = 0; r < nReq; r++) {
                out.add(new RequestResult.Failure(RequestResult.Reason.INVALID_INPUT, refused, notes.get(r)));
            }
            return out;
        }
        int lh = head.height() / 8;
        int lw = head.width() / 8;
        int latentChannels = models.unet().config().inChannels();
        Shape one = new Shape(1, latentChannels, lh, lw);

        // img2img: decode the init images first; an unreadable one fails its request only
        InitImage[] init = new InitImage[nReq];
        if (head.strength() != null) {
            for (int r = 0; r < nReq; r++) {
                try {
                    init[r] = InitImage.decode(requests.get(r).initImage(), head.width(), head.height());
                    if (init[r].note() != null) {
                        notes.get(r).add(init[r].note());
                    }
                } catch (InitImage.UnreadableImageException e) {
                    results[r] = new RequestResult.Failure(RequestResult.Reason.INVALID_INPUT, e.getMessage(), notes.get(r));
                }
            }
        }

        // one row per image of every request still in the run
        List<Integer> rowRequest = new ArrayList<>();
        List<Integer> rowImage = new ArrayList<>();
        Map<Long, Integer> rowOf = new HashMap<>();
        for (int r = 0; r < nReq; r++) {
            if (results[r] != null) {
                continue;
            }
            for (int k = 0; k < requests.get(r).seeds().size(); k++) {
                rowOf.put(key(r, k), rowRequest.size());
                rowRequest.add(r);
                rowImage.add(k);
            }
        }
        int n = rowRequest.size();
        if (n == 0) {
            return finish(results, notes);
        }
        int[] requestOfRow = rowRequest.stream().mapToInt(Integer::intValue).toArray();
        TorchGenerator[] gens = new TorchGenerator[n];
        for (int i = 0; i < n; i++) {
            gens[i] = new TorchGenerator(requests.get(requestOfRow[i]).seeds().get(rowImage.get(i)));
        }
        boolean useCfg = false;
        float[] cfg = new float[n];
        float[] rescale = new float[n]; // guidance_rescale φ per row
        boolean anyRescale = false;
        for (int i = 0; i < n; i++) {
            double g = requests.get(requestOfRow[i]).guidanceScale();
            useCfg |= g > 1;
            rescale[i] = (float) requests.get(requestOfRow[i]).guidanceRescale();
            anyRescale |= rescale[i] > 0;
            cfg[i] = (float) Math.max(g, 1.0); // diffusers: guidance only when scale > 1
        }

        try (NDManager run = NDManager.newBaseManager(device);
                Scheduler sched = Schedulers.create(head.sampler(), head.schedule(), schedulerConfig)) {
            sched.setTimesteps(head.steps());
            int first = head.strength() == null ? 0 : sched.firstStepForStrength(head.strength());
            float[] timesteps = sched.timesteps();
            int total = sched.numSteps() - first;
            if (total <= 0) {
                String msg = "strength " + head.strength() + " with " + head.steps()
                        + " steps runs no denoising step; raise the strength or the steps";
                for (int r = 0; r < nReq; r++) {
                    if (results[r] == null) {
                        results[r] = new RequestResult.Failure(RequestResult.Reason.INVALID_INPUT, msg, notes.get(r));
                    }
                }
                return finish(results, notes);
            }

            Conditioning cond = conditioner.encode(run, prepared, notes, requestOfRow, useCfg);
            NDArray cfgT = run.create(cfg, new Shape(n, 1, 1, 1));
            NDArray rescaleT = useCfg && anyRescale ? run.create(rescale, new Shape(n, 1, 1, 1)) : null;
            NDArray x = head.strength() == null
                    ? initialNoise(run, gens, one).mul(sched.initNoiseSigma())
                    : img2imgLatents(run, sched, first, init, requestOfRow, gens, one);
            NoiseSource noise = sched.isStochastic() ? NoiseSource.of(gens) : NoiseSource.NONE;
            // all timesteps on the device at once: no host-to-device copy (and sync) inside the loop
            NDArray timestepsOnDevice = run.create(timesteps);

            boolean[] cancelled = new boolean[nReq];
            for (int i = first; i < sched.numSteps(); i++) {
                if (!anyActive(cb, results, cancelled)) {
                    break;
                }
                try (NDManager s = run.newSubManager()) {
                    NDArray in = sched.scaleModelInput(x, i);
                    if (in != x) {
                        in.attach(s);
                    }
                    NDArray modelIn = useCfg ? NDArrays.concat(new NDList(in, in), 0) : in;
                    NDArray t = timestepsOnDevice.get(i + ":" + (i + 1));
                    t.attach(s);
                    NDArray eps = unetRunner.forward(s, modelIn.toType(dtype, false), t, cond)
                            .toType(DataType.FLOAT32, false);
                    NDArray guided;
                    if (useCfg) {
                        NDList halves = eps.split(2, 0);
                        guided = halves.get(0).add(halves.get(1).sub(halves.get(0)).mul(cfgT));
                        if (rescaleT != null) {
                            guided = rescaleNoiseCfg(guided, halves.get(1), rescaleT);
                        }
                    } else {
                        guided = eps;
                    }
                    StepResult res = sched.step(guided, i, x, noise);
                    NDArray prev = res.prevSample();
                    if (latentsHook != null) {
                        NDArray h = latentsHook.apply(i, prev, requestOfRow);
                        if (h != prev) {
                            h.attach(run);
                            prev.close();
                            prev = h;
                        }
                    }
                    x.close();
                    x = prev;
                    NDArray x0 = res.x0() == x ? x.duplicate() : res.x0();
                    x0.attach(s); // freed with the step
                    cb.onStep(new View(i - first + 1, total, timesteps[i], x0, x, rowOf, results, cancelled, lh, lw, cb,
                            s));
                }
            }
            decode(run, x, requests, results, notes, cancelled, requestOfRow, rowImage, lh, lw);
        }
        return finish(results, notes);
    }

    /**
     * diffusers' {@code rescale_noise_cfg}: g ← φ·g·std(pos)/std(g) + (1 − φ)·g per row, the standard
     * deviations (unbiased, as torch.std) over all but the batch axis.
     */
    static NDArray rescaleNoiseCfg(NDArray guided, NDArray positive, NDArray phi) {
        NDArray ratio = std(positive).div(std(guided));
        return guided.mul(phi.mul(ratio).add(phi.neg().add(1f)));
    }

    private static NDArray std(NDArray x) {
        long b = x.getShape().get(0);
        NDArray flat = x.reshape(b, -1);
        long n = flat.getShape().get(1);
        NDArray centred = flat.sub(flat.mean(new int[] {1}, true));
        return centred.mul(centred).sum(new int[] {1}).div((float) (n - 1)).sqrt().reshape(b, 1, 1, 1);
    }

    private static long key(int request, int image) {
        return ((long) request << 32) | image;
    }

    private static boolean anyActive(PipelineCallbacks cb, RequestResult[] results, boolean[] cancelled) {
        boolean any = false;
        for (int r = 0; r < results.length; r++) {
            if (results[r] == null && !cancelled[r]) {
                cancelled[r] = cb.isCancelled(r);
                any |= !cancelled[r];
            }
        }
        return any;
    }

    private static List<RequestResult> finish(RequestResult[] results, List<List<String>> notes) {
        List<RequestResult> out = new ArrayList<>();
        for (int r = 0; r < results.length; r++) {
            out.add(results[r] != null ? results[r]
                    : new RequestResult.Failure(RequestResult.Reason.CANCELLED, "cancelled", notes.get(r)));
        }
        return out;
    }

    private static NDArray initialNoise(NDManager run, TorchGenerator[] gens, Shape one) {
        int per = (int) one.size();
        float[] all = new float[per * gens.length];
        for (int i = 0; i < gens.length; i++) {
            System.arraycopy(gens[i].randn(one.getShape()), 0, all, i * per, per);
        }
        return run.create(all, new Shape(gens.length, one.get(1), one.get(2), one.get(3)));
    }

    /** VAE-encodes each init image, samples its latent per image, scales, adds noise at step {@code first}. */
    private NDArray img2imgLatents(NDManager run, Scheduler sched, int first, InitImage[] init, int[] requestOfRow,
            TorchGenerator[] gens, Shape one) {
        double scaling = models.vae().config().scalingFactor();
        try (NDManager tmp = run.newSubManager()) {
            Map<Integer, NDArray[]> dist = new HashMap<>();
            NDList latents = new NDList();
            NDList noises = new NDList();
            for (int i = 0; i < requestOfRow.length; i++) {
                int r = requestOfRow[i];
                NDArray[] md = dist.computeIfAbsent(r, k -> {
                    InitImage im = init[k];
                    NDArray img = tmp.create(im.chw(), new Shape(1, 3, im.height(), im.width()))
                            .toType(models.vae().dtype(), false);
                    var d = models.vae().encode(tmp, img);
                    return new NDArray[] {d.mean().toType(DataType.FLOAT32, false), d.std().toType(DataType.FLOAT32, false)};
                });
                // diffusers: latent_dist.sample(generator) = mean + std * randn_tensor(mean.shape, generator)
                NDArray sample = tmp.create(gens[i].randn(one.getShape()), one);
                latents.add(md[0].add(md[1].mul(sample)).mul((float) scaling));
            }
            for (TorchGenerator g : gens) {
                noises.add(tmp.create(g.randn(one.getShape()), one));
            }
            NDArray x = sched.addNoise(NDArrays.concat(latents, 0), NDArrays.concat(noises, 0), first);
            x.attach(run);
            return x;
        }
    }

    private void decode(NDManager run, NDArray x, List<GenerationRequest> requests, RequestResult[] results,
            List<List<String>> notes, boolean[] cancelled, int[] requestOfRow, List<Integer> rowImage, int lh, int lw) {
        double scaling = models.vae().config().scalingFactor();
        int nReq = requests.size();
        RgbImage[][] images = new RgbImage[nReq][];
        boolean[] bad = new boolean[nReq];
        for (int r = 0; r < nReq; r++) {
            images[r] = new RgbImage[requests.get(r).seeds().size()];
        }
        // rows to decode, in chunks of up to decodeBatch rows (one VAE call, one copy to the host each)
        List<Integer> rows = new ArrayList<>();
        for (int i = 0; i < requestOfRow.length; i++) {
            int r = requestOfRow[i];
            if (results[r] == null && !cancelled[r]) {
                rows.add(i);
            }
        }
        int per = (int) (x.getShape().size() / Math.max(1, x.getShape().get(0)));
        for (int c0 = 0; c0 < rows.size(); c0 += decodeBatch) {
            List<Integer> chunk = new ArrayList<>();
            try (NDManager s = run.newSubManager()) {
                NDList parts = new NDList();
                float[] lv = null;
                for (int i : rows.subList(c0, Math.min(rows.size(), c0 + decodeBatch))) {
                    chunk.add(i);
                    NDArray lat = x.get(i + ":" + (i + 1));
                    lat.attach(s);
                    parts.add(lat);
                }
                NDArray lat = parts.size() == 1 ? parts.get(0) : NDArrays.concat(parts, 0);
                lat.attach(s);
                lv = lat.toFloatArray();
                List<Integer> ok = new ArrayList<>();
                NDList good = new NDList();
                for (int k = 0; k < chunk.size(); k++) {
                    int i = chunk.get(k);
                    if (allFinite(lv, k * per, per)) {
                        ok.add(i);
                        good.add(parts.get(k));
                    } else {
                        bad[requestOfRow[i]] = true;
                    }
                }
                if (ok.isEmpty()) {
                    continue;
                }
                NDArray in = (good.size() == parts.size() ? lat : NDArrays.concat(good, 0)).div((float) scaling)
                        .toType(models.vae().dtype(), false);
                Decoded dec = toImages(models.vae().decode(s, in));
                for (int k = 0; k < ok.size(); k++) {
                    int i = ok.get(k);
                    int r = requestOfRow[i];
                    if (!dec.finite()[k]) {
                        bad[r] = true;
                        continue;
                    }
                    images[r][rowImage.get(i)] = dec.images()[k];
                }
            }
        }
        for (int r = 0; r < nReq; r++) {
            if (results[r] != null) {
                continue;
            }
            if (cancelled[r]) {
                results[r] = new RequestResult.Failure(RequestResult.Reason.CANCELLED, "cancelled", notes.get(r));
            } else if (bad[r]) {
                results[r] = new RequestResult.Failure(RequestResult.Reason.NUMERICAL, NUMERICAL_ERROR_MESSAGE, notes.get(r));
            } else {
                results[r] = new RequestResult.Success(List.of(images[r]), notes.get(r));
            }
        }
    }

    private static boolean allFinite(float[] v, int from, int n) {
        for (int k = from; k < from + n; k++) {
            if (!Float.isFinite(v[k])) {
                return false;
            }
        }
        return true;
    }

    private static boolean allFinite(float[] v) {
        for (float f : v) {
            if (!Float.isFinite(f)) {
                return false;
            }
        }
        return true;
    }

    /** Images of a decoder output, and per image whether all its values were finite. */
    record Decoded(RgbImage[] images, boolean[] finite) {
    }

    /**
     * Decoder output (B, 3, H, W) in [-1, 1] → round(255·clamp(v/2 + 0.5, 0, 1)) as interleaved 8-bit
     * RGB, as diffusers' numpy_to_pil, computed where the tensor lives: on a GPU only the bytes and one
     * float per image (max |v|, NaN and Inf propagate) come back, and the GPU is not left idle while
     * the host converts millions of floats.
     */
    static Decoded toImages(NDArray decoded) {
        Shape s = decoded.getShape();
        int b = (int) s.get(0);
        int h = (int) s.get(2);
        int w = (int) s.get(3);
        try (NDManager m = decoded.getManager().newSubManager()) {
            NDArray f = decoded.toType(DataType.FLOAT32, false);
            f.attach(m);
            NDArray rgb = f.div(2f).add(0.5f).clip(0f, 1f).mul(255f).round().toType(DataType.UINT8, false)
                    .transpose(0, 2, 3, 1);
            NDArray peak = f.abs().reshape(b, -1).max(new int[] {1});
            byte[] bytes = rgb.toByteArray();
            float[] peaks = peak.toFloatArray();
            int img = 3 * h * w;
            RgbImage[] images = new RgbImage[b];
            boolean[] finite = new boolean[b];
            for (int k = 0; k < b; k++) {
                images[k] = new RgbImage(w, h, Arrays.copyOfRange(bytes, k * img, (k + 1) * img));
                finite[k] = Float.isFinite(peaks[k]);
            }
            return new Decoded(images, finite);
        }
    }

    private final class View implements StepView {
        private final int step;
        private final int total;
        private final float timestep;
        private final NDArray x0;
        private final NDArray latents;
        private final Map<Long, Integer> rowOf;
        private final RequestResult[] results;
        private final boolean[] cancelled;
        private final int lh;
        private final int lw;
        private final PipelineCallbacks cb;
        private final NDManager scope;

        View(int step, int total, float timestep, NDArray x0, NDArray latents, Map<Long, Integer> rowOf,
                RequestResult[] results, boolean[] cancelled, int lh, int lw, PipelineCallbacks cb, NDManager scope) {
            this.step = step;
            this.total = total;
            this.timestep = timestep;
            this.x0 = x0;
            this.latents = latents;
            this.rowOf = rowOf;
            this.results = results;
            this.cancelled = cancelled;
            this.lh = lh;
            this.lw = lw;
            this.cb = cb;
            this.scope = scope;
        }

        @Override
        public int step() {
            return step;
        }

        @Override
        public int totalSteps() {
            return total;
        }

        @Override
        public float timestep() {
            return timestep;
        }

        @Override
        public boolean isActive(int request) {
            return request >= 0 && request < results.length && results[request] == null && !cancelled[request];
        }

        private int row(int request, int image) {
            Integer row = rowOf.get(key(request, image));
            if (row == null) {
                throw new IllegalArgumentException("no image " + image + " of request " + request + " in this run");
            }
            return row;
        }

        private float[] x0Host; // every row of x0, copied on the first preview of the step (one sync)

        private float[] x0Row(int row) {
            if (x0Host == null) {
                x0Host = x0.toType(DataType.FLOAT32, false).toFloatArray();
            }
            int per = x0Host.length / (int) x0.getShape().get(0);
            return Arrays.copyOfRange(x0Host, row * per, (row + 1) * per);
        }

        private float[] rowOf(NDArray a, int row) {
            try (NDManager m = scope.newSubManager()) {
                NDArray r = a.get(row);
                r.attach(m);
                return r.toType(DataType.FLOAT32, false).toFloatArray();
            }
        }

        @Override
        public float[] x0(int request, int image) {
            return x0Row(row(request, image));
        }

        @Override
        public float[] latents(int request, int image) {
            return rowOf(latents, row(request, image));
        }

        @Override
        public RgbImage preview(int request, int image) {
            int row = row(request, image);
            return switch (cb.previewMode()) {
                case LATENT_RGB -> LatentPreview.render(sdxl(), x0Row(row), lh, lw, 1);
                case LATENT_RGB_X2 -> LatentPreview.render(sdxl(), x0Row(row), lh, lw, 2);
                case VAE -> {
                    try (NDManager m = scope.newSubManager()) {
                        NDArray lat = x0.get(row + ":" + (row + 1));
                        lat.attach(m);
                        NDArray in = lat.div((float) models.vae().config().scalingFactor())
                                .toType(models.vae().dtype(), false);
                        yield toImages(models.vae().decode(m, in)).images()[0];
                    }
                }
            };
        }
    }

    @Override
    public void close() {
        addons.close(); // the checkpoint's own weights back before the models go
        if (addonArrays != null) {
            addonArrays.close();
        }
        unetRunner.close();
        models.close();
    }
}
