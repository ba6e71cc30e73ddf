package org.diffusionbot.worker.engine.pipeline;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.diffusionbot.common.ModelFamily;
import org.diffusionbot.worker.engine.lora.PromptAddons;
import org.diffusionbot.worker.engine.models.Conditioning;
import org.diffusionbot.worker.engine.text.ChunkedPrompt;
import org.diffusionbot.worker.engine.text.PromptEncoder;

/**
 * Turns a batch's prompts into the UNet's {@link Conditioning}, one implementation per model family,
 * as diffusers' {@code encode_prompt}: {@link Clip} for SD 1.x/2.x ({@code StableDiffusionPipeline}:
 * the context only), {@link Sdxl} for SDXL ({@code StableDiffusionXLPipeline}: both encoders' context,
 * the pooled embedding, the added time ids).
 *
 * <p>Common to both: {@code <lora:…>} tags are cut from the text ({@link PromptAddons#text}); prompts are parsed for Automatic1111's emphasis syntax and encoded in 75-token
 * chunks ({@link PromptEncoder}); every prompt of the batch, negatives included when guidance is on,
 * is padded with empty-prompt chunks to the batch's largest chunk count k; the rows are the negatives
 * of every batch row, then the positives (2N rows), or the positives alone without guidance (N).
 * Unweighted prompts of up to 75 tokens get exactly diffusers' encoding.
 */
abstract sealed class TextConditioner permits TextConditioner.Clip, TextConditioner.Sdxl {
    /** The (first) encoder: it decides the chunking. */
    final PromptEncoder encoder;
    /** The model's dtype. */
    final DataType dtype;

    TextConditioner(PromptEncoder encoder, DataType dtype) {
        this.encoder = encoder;
        this.dtype = dtype;
    }

    /**
     * A request's prompts tokenized and chunked by the encoders of the conditioner that made them
     * ({@code by}): per encoder its negative and its positive prompt ({@code second}: SDXL's second
     * encoder, else null).
     */
    record Tokens(TextConditioner by, List<ChunkedPrompt> first, List<ChunkedPrompt> second) {
        /**
         * The number of 75-token chunks the request's context has on its own: the longer of its prompt
         * and negative prompt (the first encoder decides).
         */
        int promptChunks() {
            return Math.max(first.get(0).chunkCount(), first.get(1).chunkCount());
        }
    }

    /** Tokenizes a request's negative and positive prompt ({@code <lora:…>} tags cut) with every encoder. */
    final Tokens tokenize(GenerationRequest r) {
        String negative = PromptAddons.text(r.negativePrompt());
        String positive = PromptAddons.text(r.prompt());
        return new Tokens(this, List.of(encoder.chunk(negative), encoder.chunk(positive)), secondTokens(negative, positive));
    }

    /** The second encoder's tokens (negative, positive), or null without one. */
    List<ChunkedPrompt> secondTokens(String negative, String positive) {
        return null;
    }

    /**
     * @param encoder the (first) text encoder with its tokenizer
     * @param encoder2 SDXL's second, or null for SD 1.x/2.x
     * @param dtype the model's dtype
     * @return the family's conditioner
     */
    static TextConditioner of(PromptEncoder encoder, PromptEncoder encoder2, DataType dtype) {
        return encoder2 == null ? new Clip(encoder, dtype) : new Sdxl(encoder, encoder2, dtype);
    }

    /**
     * @param run owner of the result
     * @param requests the batch's requests, tokenized ({@link #tokenize}: those tokenized by another
     *     conditioner are tokenized again); those whose index is not in {@code requestOfRow} are skipped
     * @param notes per request: a note is added for a prompt longer than one chunk
     * @param requestOfRow the request of each batch row (a request with several images has several rows)
     * @param useCfg whether the negative rows are there (classifier-free guidance)
     * @return the conditioning of the 2N (or N) UNet rows, in the model's dtype
     */
    final Conditioning encode(NDManager run, List<PreparedRequest> requests, List<List<String>> notes,
            int[] requestOfRow, boolean useCfg) {
        Map<Integer, Tokens> chunked = new LinkedHashMap<>();
        int chunks = 1;
        for (int r : requestOfRow) {
            if (chunked.containsKey(r)) {
                continue;
            }
            PreparedRequest p = requests.get(r);
            Tokens t = p.tokens().by() == this ? p.tokens() : tokenize(p.request());
            ChunkedPrompt neg = t.first().get(0);
            ChunkedPrompt pos = t.first().get(1);
            chunked.put(r, t);
            note(notes.get(r), "prompt", pos);
            chunks = Math.max(chunks, pos.chunkCount());
            if (useCfg) {
                note(notes.get(r), "negative prompt", neg);
                chunks = Math.max(chunks, neg.chunkCount());
            }
        }
        try (NDManager tmp = run.newSubManager()) {
            Map<Integer, NDArray[]> perRequest = encodeAll(tmp, requests, chunked, chunks);
            NDArray[] out = new NDArray[2];
            for (int k = 0; k < 2; k++) {
                if (perRequest.values().iterator().next()[k] == null) {
                    continue;
                }
                NDList rows = new NDList();
                if (useCfg) {
                    for (int r : requestOfRow) {
                        rows.add(perRequest.get(r)[k].get("0:1"));
                    }
                }
                for (int r : requestOfRow) {
                    rows.add(perRequest.get(r)[k].get("1:2"));
                }
                out[k] = NDArrays.concat(rows, 0);
                out[k].attach(run);
            }
            GenerationRequest head = requests.get(requestOfRow[0]).request();
            NDArray timeIds = out[1] == null ? null : timeIds(run, (int) out[0].getShape().get(0), head);
            return new Conditioning(out[0], out[1], timeIds);
        }
    }

    /**
     * Every request's {context (2, 77·k, D), pooled (2, P) or null} (negative, positive), from one encoder call
     * per clip skip in the batch (diffusers encodes a batch's prompts as one batch too): the text encoders run
     * once for the whole batch, not once per request.
     */
    private Map<Integer, NDArray[]> encodeAll(NDManager m, List<PreparedRequest> requests, Map<Integer, Tokens> chunked,
            int chunks) {
        Map<Integer, List<Integer>> byClipSkip = new LinkedHashMap<>();
        for (int r : chunked.keySet()) {
            byClipSkip.computeIfAbsent(clipSkip(requests.get(r).request()), k -> new ArrayList<>()).add(r);
        }
        Map<Integer, NDArray[]> perRequest = new LinkedHashMap<>();
        for (Map.Entry<Integer, List<Integer>> group : byClipSkip.entrySet()) {
            List<Integer> rs = group.getValue();
            NDArray[] all = encodeGroup(m, rs.stream().map(r -> requests.get(r).request()).toList(),
                    rs.stream().map(chunked::get).toList(), chunks, group.getKey());
            for (int j = 0; j < rs.size(); j++) {
                String pair = 2 * j + ":" + (2 * j + 2);
                perRequest.put(rs.get(j), new NDArray[] {all[0].get(pair), all[1] == null ? null : all[1].get(pair)});
            }
        }
        return perRequest;
    }

    /**
     * The clip skip a request's prompts are encoded with, in Automatic1111's numbering ({@code hidden_states[-N]}):
     * its own, or for none ({@link org.diffusionbot.common.GenerationLimits#FAMILY_DEFAULT_CLIP_SKIP}) the model
     * family's default ({@link ModelFamily#defaultClipSkip}).
     */
    abstract int clipSkip(GenerationRequest r);

    /**
     * Requests sharing a clip skip, encoded as one batch: {context (2R, 77·k, D), pooled (2R, P) or null}, rows
     * negative, positive of each request in turn.
     *
     * @param qs the requests
     * @param tokens their negative and positive prompts, chunked by this conditioner's encoders
     * @param chunks the batch's chunk count k
     * @param clipSkip the requests' clip skip ({@link #clipSkip(GenerationRequest)}: 1..12)
     */
    abstract NDArray[] encodeGroup(NDManager m, List<GenerationRequest> qs, List<Tokens> tokens, int chunks, int clipSkip);

    /** The prompts of every request in turn (negative, positive): the first encoder's or the second's. */
    static List<ChunkedPrompt> prompts(List<Tokens> tokens, boolean second) {
        List<ChunkedPrompt> out = new ArrayList<>();
        for (Tokens t : tokens) {
            out.addAll(second ? t.second() : t.first());
        }
        return out;
    }

    /** SDXL's added time ids (rows, 6), else never called. */
    NDArray timeIds(NDManager run, int rows, GenerationRequest head) {
        throw new UnsupportedOperationException();
    }

    private void note(List<String> notes, String what, ChunkedPrompt p) {
        int per = encoder.chunker().chunkLength();
        if (p.tokenCount() > per) {
            notes.add("long " + what + " (" + p.tokenCount() + " tokens): encoded in " + p.chunkCount() + " chunks of "
                    + per + " tokens");
        }
    }

    /** SD 1.x/2.x: one CLIP text encoder; the context is its (clip-skipped) hidden states. */
    static final class Clip extends TextConditioner {
        Clip(PromptEncoder encoder, DataType dtype) {
            super(encoder, dtype);
        }

        /** SD 1.x and 2.x: none = 1, the last layer (both families' default). */
        @Override
        int clipSkip(GenerationRequest r) {
            return ModelFamily.SD1.effectiveClipSkip(r.clipSkip());
        }

        @Override
        NDArray[] encodeGroup(NDManager m, List<GenerationRequest> qs, List<Tokens> tokens, int chunks, int clipSkip) {
            return new NDArray[] {encoder.encode(m, prompts(tokens, false), chunks, clipSkip), null};
        }
    }

    /**
     * SDXL, as diffusers' {@code StableDiffusionXLPipeline.encode_prompt}: the context is both encoders'
     * hidden states concatenated, the pooled embedding (2N or N, P) is the second encoder's {@code
     * text_embeds} of the first chunk, an empty negative prompt gives zeros for both ({@code
     * force_zeros_for_empty_prompt}, as Automatic1111), and the time ids (2N or N, 6) are (h, w, 0, 0, h, w).
     */
    static final class Sdxl extends TextConditioner {
        private final PromptEncoder encoder2;

        /** @param encoder2 the second encoder with its tokenizer (pads with {@code !}) */
        Sdxl(PromptEncoder encoder, PromptEncoder encoder2, DataType dtype) {
            super(encoder, dtype);
            this.encoder2 = encoder2;
        }

        @Override
        List<ChunkedPrompt> secondTokens(String negative, String positive) {
            return List.of(encoder2.chunk(negative), encoder2.chunk(positive));
        }

        /**
         * None = 2, the penultimate layer of both encoders (diffusers' default); N = {@code hidden_states[-N]} of
         * both, as ComfyUI's {@code CLIPSetLastLayer} −N sets it on both ({@code SDXLClipModel.set_clip_options}).
         * Automatic1111 with {@code sdxl_clip_l_skip} applies N to CLIP-L only (its bigG stays at the penultimate
         * layer); we follow ComfyUI.
         */
        @Override
        int clipSkip(GenerationRequest r) {
            return ModelFamily.SDXL.effectiveClipSkip(r.clipSkip());
        }

        @Override
        NDArray[] encodeGroup(NDManager m, List<GenerationRequest> qs, List<Tokens> tokens, int chunks, int clipSkip) {
            var h1 = encoder.encodeHidden(m, prompts(tokens, false), chunks, clipSkip);
            var h2 = encoder2.encodeHidden(m, prompts(tokens, true), chunks, clipSkip);
            NDArray context = h1.hidden().concat(h2.hidden(), 2);
            NDArray pooled = h2.pooled();
            float[] keep = new float[2 * qs.size()];
            boolean zeros = false;
            for (int j = 0; j < qs.size(); j++) {
                // force_zeros_for_empty_prompt: an empty negative prompt's row of both is zeros
                boolean empty = PromptAddons.text(qs.get(j).negativePrompt()).isEmpty();
                keep[2 * j] = empty ? 0f : 1f;
                keep[2 * j + 1] = 1f;
                zeros |= empty;
            }
            if (zeros) {
                NDArray k = m.create(keep, new Shape(keep.length, 1, 1)).toType(context.getDataType(), false);
                context = context.mul(k);
                pooled = pooled.mul(k.reshape(keep.length, 1));
            }
            return new NDArray[] {context, pooled};
        }

        @Override
        NDArray timeIds(NDManager run, int rows, GenerationRequest head) {
            float[] ids = new float[rows * 6];
            for (int i = 0; i < ids.length; i += 6) {
                ids[i] = ids[i + 4] = head.height();
                ids[i + 1] = ids[i + 5] = head.width();
            }
            return run.create(ids, new Shape(rows, 6)).toType(dtype, false);
        }
    }
}
