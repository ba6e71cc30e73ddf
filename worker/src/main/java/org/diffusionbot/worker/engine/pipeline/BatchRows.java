package org.diffusionbot.worker.engine.pipeline;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.diffusionbot.worker.engine.random.TorchGenerator;

/**
 * The bookkeeping of one {@link StableDiffusionPipeline#run}: per request its result (null while it
 * runs), notes, cancellation and init image; per UNet row (one per image of every request still in
 * the run) its request, image index, generator, guidance scale and guidance rescale.
 *
 * <p>Rows are made once ({@link #assignRows}), after the requests that fail before the run (an
 * unreadable init image) have their results, so a row is never added or removed later; a request
 * that fails or is cancelled afterwards keeps its rows (the UNet batch keeps its shape) and is
 * skipped where images are made.
 */
final class BatchRows {
    private final List<PreparedRequest> prepared;
    private final List<GenerationRequest> requests;
    private final RequestResult[] results;
    private final List<List<String>> notes = new ArrayList<>();
    private final boolean[] cancelled;
    private final InitImage[] init;
    private int[] requestOfRow = new int[0];
    private int[] imageOfRow = new int[0];
    private final Map<Long, Integer> rowOf = new HashMap<>();
    private TorchGenerator[] generators = new TorchGenerator[0];
    private float[] cfg = new float[0];
    private float[] rescale = new float[0];
    private boolean useCfg;
    private boolean anyRescale;

    BatchRows(List<PreparedRequest> prepared) {
        this.prepared = prepared;
        this.requests = prepared.stream().map(PreparedRequest::request).toList();
        this.results = new RequestResult[requests.size()];
        this.cancelled = new boolean[requests.size()];
        this.init = new InitImage[requests.size()];
        for (int r = 0; r < requests.size(); r++) {
            notes.add(new ArrayList<>());
        }
    }

    /** The requests, in order. */
    List<GenerationRequest> requests() {
        return requests;
    }

    /** The requests as prepared (their tokens). */
    List<PreparedRequest> prepared() {
        return prepared;
    }

    /** The first request: its size, steps, sampler, schedule and strength are the batch's. */
    GenerationRequest head() {
        return requests.get(0);
    }

    /** The notes of each request (a note for a long prompt, a resized init image). */
    List<List<String>> notes() {
        return notes;
    }

    /** Fails every request that has no result yet. */
    void failAll(RequestResult.Reason reason, String message) {
        for (int r = 0; r < results.length; r++) {
            if (results[r] == null) {
                results[r] = new RequestResult.Failure(reason, message, notes.get(r));
            }
        }
    }

    /** img2img: decodes each request's init image at the batch's size; an unreadable one fails its request only. */
    void decodeInitImages() {
        GenerationRequest head = head();
        for (int r = 0; r < requests.size(); r++) {
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

    /**
     * One row per image of every request without a result, in request order; each row's generator
     * seeded with its image's seed, its guidance scale (at least 1: diffusers guides only above 1) and
     * guidance rescale φ.
     */
    void assignRows() {
        List<Integer> rowRequest = new ArrayList<>();
        List<Integer> rowImage = new ArrayList<>();
        for (int r = 0; r < requests.size(); r++) {
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
        requestOfRow = rowRequest.stream().mapToInt(Integer::intValue).toArray();
        imageOfRow = rowImage.stream().mapToInt(Integer::intValue).toArray();
        generators = new TorchGenerator[n];
        cfg = new float[n];
        rescale = new float[n];
        for (int i = 0; i < n; i++) {
            GenerationRequest q = requests.get(requestOfRow[i]);
            generators[i] = new TorchGenerator(q.seeds().get(imageOfRow[i]));
            double g = q.guidanceScale();
            useCfg |= g > 1;
            rescale[i] = (float) q.guidanceRescale();
            anyRescale |= rescale[i] > 0;
            cfg[i] = (float) Math.max(g, 1.0); // diffusers: guidance only when scale > 1
        }
    }

    /** The number of rows (images in the run). */
    int size() {
        return requestOfRow.length;
    }

    /** The request of each row (a request with several images has several rows). */
    int[] requestOfRow() {
        return requestOfRow;
    }

    /** The request of a row. */
    int requestOf(int row) {
        return requestOfRow[row];
    }

    /** The image index (within its request) of a row. */
    int imageOf(int row) {
        return imageOfRow[row];
    }

    /** Each row's generator (initial noise, img2img's latent sample, ancestral samplers' noise). */
    TorchGenerator[] generators() {
        return generators;
    }

    /** Whether any request guides (scale above 1): then the UNet also sees the negative rows. */
    boolean useCfg() {
        return useCfg;
    }

    /** Whether any request rescales its guidance. */
    boolean anyRescale() {
        return anyRescale;
    }

    /** Each row's guidance scale. */
    float[] cfg() {
        return cfg;
    }

    /** Each row's guidance rescale φ. */
    float[] rescale() {
        return rescale;
    }

    /** The init image of a request (img2img, after {@link #decodeInitImages}). */
    InitImage init(int request) {
        return init[request];
    }

    /**
     * The row of a request's image.
     *
     * @throws IllegalArgumentException when it has none in this run
     */
    int row(int request, int image) {
        Integer row = rowOf.get(key(request, image));
        if (row == null) {
            throw new IllegalArgumentException("no image " + image + " of request " + request + " in this run");
        }
        return row;
    }

    /** Whether a request is still running: no result, not cancelled. */
    boolean isActive(int request) {
        return request >= 0 && request < results.length && results[request] == null && !cancelled[request];
    }

    /** Asks {@code cb} about each running request's cancellation; whether any request still runs. */
    boolean anyActive(PipelineCallbacks cb) {
        boolean any = false;
        for (int r = 0; r < results.length; r++) {
            if (results[r] == null && !cancelled[r]) {
                cancelled[r] = cb.isCancelled(r);
                any |= !cancelled[r];
            }
        }
        return any;
    }

    /** Whether the row's request still wants its image decoded (no result yet, not cancelled). */
    boolean wantsImage(int row) {
        int r = requestOfRow[row];
        return results[r] == null && !cancelled[r];
    }

    /**
     * Ends every request still without a result: cancelled, failed with NaN/Inf ({@code bad}), or
     * succeeded with its {@code images}.
     */
    void complete(RgbImage[][] images, boolean[] bad) {
        for (int r = 0; r < results.length; r++) {
            if (results[r] != null) {
                continue;
            }
            if (cancelled[r]) {
                results[r] = new RequestResult.Failure(RequestResult.Reason.CANCELLED, "cancelled", notes.get(r));
            } else if (bad[r]) {
                results[r] = new RequestResult.Failure(RequestResult.Reason.NUMERICAL,
                        StableDiffusionPipeline.NUMERICAL_ERROR_MESSAGE, notes.get(r));
            } else {
                results[r] = new RequestResult.Success(List.of(images[r]), notes.get(r));
            }
        }
    }

    /** One result per request, in order; a request that never got one was cancelled. */
    List<RequestResult> finish() {
        List<RequestResult> out = new ArrayList<>();
        for (int r = 0; r < results.length; r++) {
            out.add(results[r] != null ? results[r]
                    : new RequestResult.Failure(RequestResult.Reason.CANCELLED, "cancelled", notes.get(r)));
        }
        return out;
    }

    private static long key(int request, int image) {
        return ((long) request << 32) | image;
    }
}
