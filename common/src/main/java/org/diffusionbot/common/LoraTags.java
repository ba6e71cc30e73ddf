package org.diffusionbot.common;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * AUTOMATIC1111's extra-network tags in prompts ({@code modules/extra_networks.py} and the built-in
 * Lora extension): every {@code <KIND:ARGS>} ({@code re.sub(r"<(\w+):([^>]+)>", "", prompt)}) is cut
 * from the text before it is encoded; {@code <lora:NAME>}, {@code <lora:NAME:W>} (W for the UNet and
 * the text encoders) and {@code <lora:NAME:TE:UNET>} (separate weights; also the named forms {@code
 * te=W}, {@code unet=W}) name a LoRA ({@code lyco} is A1111's alias of {@code lora}). Weights may be
 * negative. Shared by the bot (validation before anything is charged) and the worker (what runs).
 */
public final class LoraTags {
    private static final Pattern TAG = Pattern.compile("<(\\w+):([^>]+)>", Pattern.UNICODE_CHARACTER_CLASS);
    /** Largest weight magnitude accepted (A1111 takes any float; beyond this the image is noise). */
    public static final double MAX_WEIGHT = 20;

    private LoraTags() {}

    /**
     * One LoRA named in a prompt.
     *
     * @param name the name as written (looked up case-insensitively)
     * @param te weight on the text encoder(s)
     * @param unet weight on the UNet
     */
    public record Lora(String name, double te, double unet) {
        /** @return the key names are compared by (lower case) */
        public String key() {
            return name.toLowerCase(Locale.ROOT);
        }
    }

    /**
     * A prompt with its tags cut out.
     *
     * @param text the prompt without the tags (the whitespace around them left as it was)
     * @param loras the LoRAs in order of appearance
     */
    public record Parsed(String text, List<Lora> loras) {
        public Parsed {
            loras = List.copyOf(loras);
        }
    }

    /**
     * Parses a prompt.
     *
     * @param prompt the prompt (null: empty)
     * @return the text without tags and the LoRAs it names
     * @throws IllegalArgumentException for a {@code <hypernet:…>} tag (A1111's hypernetworks are not supported) or
     *     a weight that is not a number within ±{@value #MAX_WEIGHT}; the message quotes the tag. Tags of
     *     other kinds (Discord's {@code <t:0:R>} timestamps, {@code <a:name:id>} emoji) stay in the text
     */
    public static Parsed parse(String prompt) {
        String s = prompt == null ? "" : prompt;
        List<Lora> loras = new ArrayList<>();
        Matcher m = TAG.matcher(s);
        StringBuilder text = new StringBuilder();
        while (m.find()) {
            String kind = m.group(1).toLowerCase(Locale.ROOT);
            if (kind.equals("hypernet")) { // A1111's other extra network: the user means it, and it would do nothing
                throw new IllegalArgumentException("unsupported tag " + m.group() + ": only <lora:NAME:WEIGHT> is supported");
            }
            if (!kind.equals("lora") && !kind.equals("lyco")) {
                continue; // not an extra network (Discord's <t:0:R> timestamps, <a:name:id> emoji): prompt text
            }
            loras.add(lora(m.group(), m.group(2)));
            m.appendReplacement(text, "");
        }
        m.appendTail(text);
        return new Parsed(text.toString(), loras);
    }

    private static Lora lora(String tag, String args) {
        List<String> positional = new ArrayList<>();
        Double te = null;
        Double unet = null;
        for (String item : args.split(":", -1)) {
            String t = item.strip();
            if (!positional.isEmpty() && t.startsWith("te=")) {
                te = weight(tag, t.substring(3));
            } else if (!positional.isEmpty() && t.startsWith("unet=")) {
                unet = weight(tag, t.substring(5));
            } else {
                positional.add(t);
            }
        }
        String name = positional.get(0);
        if (name.isEmpty()) {
            throw new IllegalArgumentException("tag " + tag + " names no LoRA");
        }
        if (positional.size() > 4) {
            throw new IllegalArgumentException("tag " + tag + " has too many values: write <lora:NAME:WEIGHT> or <lora:NAME:TE:UNET>");
        }
        if (te == null) {
            te = positional.size() > 1 ? weight(tag, positional.get(1)) : 1.0;
        }
        if (unet == null) {
            unet = positional.size() > 2 ? weight(tag, positional.get(2)) : te;
        }
        return new Lora(name, te, unet);
    }

    private static double weight(String tag, String text) {
        double w;
        try {
            w = Double.parseDouble(text);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("tag " + tag + ": weight \"" + text + "\" is not a number");
        }
        if (!(Math.abs(w) <= MAX_WEIGHT)) {
            throw new IllegalArgumentException("tag " + tag + ": weight " + text + " is outside ±" + (int) MAX_WEIGHT);
        }
        return w;
    }

    /**
     * The LoRA set of a job: every LoRA of the prompt and the negative prompt, names compared case-
     * insensitively, a LoRA named twice taking the sum of its weights (A1111 applies it twice), sorted
     * by name (in lower case); LoRAs whose weights sum to 0 on both parts are dropped (they change nothing). Jobs with
     * equal sets can share a batch.
     *
     * @param prompt the prompt
     * @param negativePrompt the negative prompt
     * @return name (lower case) → weights
     * @throws IllegalArgumentException as {@link #parse}
     */
    public static Map<String, Lora> set(String prompt, String negativePrompt) {
        Map<String, Lora> out = new TreeMap<>();
        List<Lora> all = new ArrayList<>(parse(prompt).loras());
        all.addAll(parse(negativePrompt).loras());
        for (Lora l : all) {
            out.merge(l.key(), new Lora(l.key(), l.te(), l.unet()),
                    (a, b) -> new Lora(a.name(), a.te() + b.te(), a.unet() + b.unet()));
        }
        out.values().removeIf(l -> l.te() == 0 && l.unet() == 0);
        return Collections.unmodifiableMap(out);
    }
}
