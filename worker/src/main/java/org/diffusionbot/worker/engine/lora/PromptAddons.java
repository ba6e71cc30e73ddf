package org.diffusionbot.worker.engine.lora;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Pattern;
import org.diffusionbot.common.LoraTags;

/**
 * What a prompt may name besides words, AUTOMATIC1111's way: LoRAs in {@code <lora:NAME:W>} tags,
 * cut from the prompt and the negative prompt before they are encoded ({@link #text}) and put on the
 * model for the batch ({@link #prepare}, through a {@link LoraPatcher}), and textual-inversion
 * embeddings, triggered by their name as a word (the text encoders replace the word's tokens by
 * the embedding's vectors; {@link #embeddings()} is what the pipeline gives them).
 */
public final class PromptAddons implements AutoCloseable {
    /** Neither LoRAs nor embeddings: a prompt naming a LoRA fails with the reason. */
    public static final PromptAddons NONE = new PromptAddons(null, null, List.of());

    private final LoraPatcher loras;
    private final ModelFolder embeddingFolder;
    private final List<Embeddings.Embedding> embeddings;

    /**
     * @param loras puts LoRA sets on the model, or null when the worker has no LoRA folder
     * @param embeddingFolder the embeddings' folder (for their hashes), or null
     * @param embeddings the embeddings that fit the model ({@link Embeddings#load})
     */
    public PromptAddons(LoraPatcher loras, ModelFolder embeddingFolder, List<Embeddings.Embedding> embeddings) {
        this.loras = loras;
        this.embeddingFolder = embeddingFolder;
        this.embeddings = List.copyOf(embeddings);
    }

    /** @return the embeddings that fit the model, in name order */
    public List<Embeddings.Embedding> embeddings() {
        return embeddings;
    }

    /**
     * The text the text encoders get: every {@code <kind:args>} tag cut out (AUTOMATIC1111's {@code
     * re.sub(r"<(\w+):([^>]+)>", "", prompt)}; the whitespace around it is left).
     */
    public static String text(String prompt) {
        try {
            return LoraTags.parse(prompt).text();
        } catch (IllegalArgumentException e) {
            return prompt == null ? "" : prompt; // its batch fails in prepare, with the reason
        }
    }

    /**
     * Puts the LoRA set of a batch on the model (every request of a batch has the same set: {@link
     * LoraTags#set}).
     *
     * @param prompts each request's prompt and negative prompt
     * @return null when the batch may run, else why every request of it fails (a malformed tag,
     *     requests with different sets, an unknown LoRA, one for another family)
     */
    public String prepare(List<String[]> prompts) {
        Map<String, LoraTags.Lora> set = null;
        try {
            for (String[] p : prompts) {
                Map<String, LoraTags.Lora> s = LoraTags.set(p[0], p[1]);
                if (set != null && !set.equals(s)) {
                    throw new IllegalArgumentException("jobs with different LoRA sets cannot share a batch");
                }
                set = s;
            }
        } catch (IllegalArgumentException e) {
            return e.getMessage();
        }
        if (set == null) {
            return null;
        }
        if (loras == null) {
            return set.isEmpty() ? null : "no LoRA folder is set (LORA_DIR; imagine --lora-dir), so <lora:"
                    + set.values().iterator().next().name() + "> cannot be used";
        }
        try {
            loras.apply(set);
            return null;
        } catch (LoraException e) {
            return e.getMessage();
        }
    }

    /** @return the LoRA patcher, or null without a LoRA folder */
    LoraPatcher loras() {
        return loras;
    }

    /** @return how many times a batch switched the model's LoRA set ({@link LoraPatcher#switches()}); 0 without a LoRA folder */
    public long loraSwitches() {
        return loras == null ? 0 : loras.switches();
    }

    /**
     * The fields AUTOMATIC1111 adds to an image's parameters for add-ons: {@code Lora hashes} (the
     * LoRAs applied now, {@code name: hash}) and {@code TI hashes} (the embeddings whose name is a
     * word of the prompt or negative prompt).
     *
     * @return field → value, in that order (empty when none was used)
     */
    public Map<String, String> infotext(String prompt, String negativePrompt) {
        Map<String, String> out = new LinkedHashMap<>();
        String lora = loras == null ? null : loras.loraHashes();
        if (lora != null) {
            out.put("Lora hashes", lora);
        }
        List<String> ti = new ArrayList<>();
        String text = (text(prompt) + "\n" + text(negativePrompt)).toLowerCase(Locale.ROOT);
        for (Embeddings.Embedding e : embeddings) {
            if (embeddingFolder != null && Pattern.compile("(?<![\\p{L}\\p{N}_])" + Pattern.quote(e.name()
                    .toLowerCase(Locale.ROOT)) + "(?![\\p{L}\\p{N}_])").matcher(text).find()) {
                ti.add(e.name() + ": " + embeddingFolder.embeddingHash(e.file()));
            }
        }
        if (!ti.isEmpty()) {
            out.put("TI hashes", String.join(", ", ti));
        }
        return out;
    }

    /** Takes every LoRA off the model and closes the files. */
    @Override
    public void close() {
        if (loras != null) {
            loras.close();
        }
    }
}
