package org.diffusionbot.bot.service;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import org.diffusionbot.bot.workers.WorkerRegistry;
import org.diffusionbot.common.LoraTags;
import org.diffusionbot.common.ModelFamily;
import org.diffusionbot.common.Suggestions;
import org.diffusionbot.common.Text;
import org.diffusionbot.common.messages.JobRequest;
import org.diffusionbot.common.messages.WorkerHeartbeat;

/**
 * The LoRAs and textual-inversion embeddings the live workers announce in their heartbeats ({@code loras},
 * {@code embeddings}: file names and the model family each is for): {@code /loras} lists them, and every submission
 * is checked against them before anything is charged ({@link #refusal}): AUTOMATIC1111's {@code <lora:NAME:W>} tags
 * ({@link LoraTags}) must be well formed, at most the server's limit of them, and each name must be a LoRA that every
 * live worker serving the job's model has, for that model's family; a refusal names the closest fitting names.
 * Embeddings need no check: a word that is no embedding's name is just a word (AUTOMATIC1111's rule).
 */
public final class LoraService {
    /** LoRAs one prompt may use (prompt and negative prompt together) when the server set no limit. */
    public static final int DEFAULT_MAX_LORAS = 4;
    /** The highest limit an admin may set ({@code /admin loras max:}); 0 turns LoRAs off on the server. */
    public static final int MAX_LORAS_LIMIT = 20;
    /** How many close names a refusal suggests. */
    private static final int SUGGESTED = 3;

    /** A LoRA. */
    public static final String LORA = "lora";
    /** A textual-inversion embedding. */
    public static final String EMBEDDING = "embedding";

    private final WorkerRegistry workers;

    /**
     * A LoRA refusal thrown where an option check is expected ({@link SubmitService#check}); its message is ready to
     * show (the names it quotes are in code spans already), so it is not escaped again.
     */
    public static final class Refused extends IllegalArgumentException {
        public Refused(String message) {
            super(message);
        }
    }

    public LoraService(WorkerRegistry workers) {
        this.workers = workers;
    }

    /**
     * One add-on as the live workers announce it.
     *
     * @param kind {@link #LORA} or {@link #EMBEDDING}
     * @param name the name prompts use (the file name without {@code .safetensors}), as the first worker spelled it
     * @param family the model family it is for: {@code sd1}, {@code sd2}, {@code sdxl} or {@code unknown}
     * @param workers how many live workers have it
     */
    public record Addon(String kind, String name, String family, int workers) {
        /** @return the family for people: {@code SD 1.x}, {@code SDXL}..., or "any model family" when unknown */
        public String familyLabel() {
            return familyLabelOf(family);
        }

        /** {@code SD 1.x}, {@code SDXL}... for a family id; "any model family" for {@code unknown}. */
        public static String familyLabelOf(String family) {
            return LoraService.familyLabel(family);
        }
    }

    /**
     * The add-ons of the live workers (not lost, not stopping), LoRAs first, then by name (case-insensitive); one
     * entry per kind, name (case-insensitive) and family.
     *
     * @param search part of the name to look for, case-insensitive (null or blank: all)
     * @param family only those for this family id ({@code sd1}, {@code sd2}, {@code sdxl}; null: all); add-ons
     *     of an unknown family are listed for every family
     */
    public List<Addon> list(String search, String family) {
        String q = search == null ? "" : search.strip().toLowerCase(Locale.ROOT);
        Map<String, Addon> found = new TreeMap<>();
        for (WorkerRegistry.Seen s : live()) {
            add(found, LORA, s.heartbeat().loras(), q, family);
            add(found, EMBEDDING, s.heartbeat().embeddings(), q, family);
        }
        List<Addon> out = new ArrayList<>(found.values());
        out.sort(Comparator.comparing((Addon a) -> !a.kind().equals(LORA))
                .thenComparing(a -> a.name().toLowerCase(Locale.ROOT)).thenComparing(Addon::family));
        return out;
    }

    private static void add(Map<String, Addon> found, String kind, List<WorkerHeartbeat.Addon> addons, String q,
            String family) {
        Set<String> seen = new java.util.HashSet<>();
        for (WorkerHeartbeat.Addon a : addons) {
            String lower = a.name().toLowerCase(Locale.ROOT);
            if (!lower.contains(q) || (family != null && !fits(a.family(), family))) {
                continue;
            }
            String key = kind + "\u0000" + lower + "\u0000" + a.family();
            if (seen.add(key)) {
                found.merge(key, new Addon(kind, a.name(), a.family(), 1),
                        (x, y) -> new Addon(x.kind(), x.name(), x.family(), x.workers() + 1));
            }
        }
    }

    /**
     * Checks the LoRAs a job names, without I/O (the registry is in memory).
     *
     * @param job the request (its prompt and negative prompt, its model)
     * @param maxLoras the most LoRAs the server allows in one job (0: none)
     * @return why the job is refused, a sentence for the user ending in "Nothing was charged.", or empty when it
     *     may run. While no live worker serves the model nothing but the tags' form and count can be checked: the
     *     job waits for a worker, which refuses a LoRA it does not have (the job fails and is refunded).
     */
    public Optional<String> refusal(JobRequest job, int maxLoras) {
        Set<String> names = new LinkedHashSet<>();
        Map<String, String> spelled = new TreeMap<>();
        try {
            for (String text : new String[] {job.prompt(), job.negativePrompt()}) {
                for (LoraTags.Lora l : LoraTags.parse(text).loras()) {
                    names.add(l.key());
                    spelled.putIfAbsent(l.key(), l.name());
                }
            }
        } catch (IllegalArgumentException e) {
            return Optional.of("`" + Text.codeText(Text.shorten(e.getMessage(), 300)) + "`. Nothing was charged.");
        }
        if (names.isEmpty()) {
            return Optional.empty();
        }
        if (names.size() > maxLoras) {
            return Optional.of(maxLoras == 0
                    ? "LoRAs are turned off on this server (an admin sets this with `/admin loras`). Nothing was charged."
                    : "this server allows at most " + maxLoras + " LoRA" + (maxLoras == 1 ? "" : "s")
                            + " per prompt (the prompt and the negative prompt together); yours names " + names.size()
                            + ". Nothing was charged.");
        }
        List<WorkerHeartbeat> serving = live().stream().map(WorkerRegistry.Seen::heartbeat)
                .filter(h -> h.models().contains(job.model())).toList();
        if (serving.isEmpty()) {
            return Optional.empty();
        }
        String modelFamily = serving.stream().map(h -> h.infoFor(job.model()))
                .flatMap(Optional::stream).map(WorkerHeartbeat.ModelInfo::family).findFirst().orElse(null);
        String model = "`" + Text.codeText(job.model()) + "`";
        for (String key : names) {
            String name = "`" + Text.codeText(Text.shorten(spelled.get(key), 100)) + "`";
            List<WorkerHeartbeat.Addon> copies = new ArrayList<>();
            for (WorkerHeartbeat h : serving) {
                h.loras().stream().filter(a -> a.name().equalsIgnoreCase(key)).findFirst().ifPresent(copies::add);
            }
            if (copies.isEmpty()) {
                return Optional.of("there is no LoRA " + name + " for " + model + suggest(key, serving, modelFamily)
                        + ". Nothing was charged.");
            }
            WorkerHeartbeat.Addon wrong = copies.stream().filter(a -> !fits(a.family(), modelFamily)).findFirst()
                    .orElse(null);
            if (wrong != null) {
                return Optional.of("LoRA " + name + " is for " + familyLabel(wrong.family()) + " models and " + model
                        + " is " + article(familyLabel(modelFamily)) + " model" + suggest(key, serving, modelFamily)
                        + ". Nothing was charged.");
            }
            if (copies.size() < serving.size()) {
                return Optional.of("LoRA " + name + " is on only " + copies.size() + " of the " + serving.size()
                        + " workers serving " + model + ", and a job may go to any of them: ask an admin to copy it"
                        + " to every worker. Nothing was charged.");
            }
        }
        return Optional.empty();
    }

    /** "; closest: `a`, `b`" among the LoRAs of the serving workers that fit the family, or a pointer to /loras. */
    private static String suggest(String key, List<WorkerHeartbeat> serving, String modelFamily) {
        Set<String> fitting = new java.util.TreeSet<>(String.CASE_INSENSITIVE_ORDER);
        for (WorkerHeartbeat h : serving) {
            h.loras().stream().filter(a -> fits(a.family(), modelFamily) && !a.name().equalsIgnoreCase(key))
                    .forEach(a -> fitting.add(a.name()));
        }
        List<String> close = Suggestions.closest(key, fitting, SUGGESTED);
        if (close.isEmpty()) {
            return " (`/loras` lists them)";
        }
        return "; closest: " + String.join(", ", close.stream().map(n -> "`" + Text.codeText(n) + "`").toList());
    }

    /** Whether an add-on for {@code addonFamily} fits a model of {@code modelFamily} (unknown on either side: yes). */
    static boolean fits(String addonFamily, String modelFamily) {
        return modelFamily == null || addonFamily == null || addonFamily.equalsIgnoreCase("unknown")
                || modelFamily.equalsIgnoreCase("unknown") || addonFamily.equalsIgnoreCase(modelFamily);
    }

    /** {@code SD 1.x}, {@code SDXL}... for a family id; the id itself when this build does not know it. */
    static String familyLabel(String family) {
        if (family == null || family.equalsIgnoreCase("unknown")) {
            return "any model family";
        }
        try {
            return ModelFamily.fromId(family).label();
        } catch (IllegalArgumentException e) {
            return family;
        }
    }

    private static String article(String label) {
        return (label.startsWith("S") ? "an " : "a ") + label; // "an SDXL", "an SD 1.x"
    }

    private List<WorkerRegistry.Seen> live() {
        return workers.workers().stream()
                .filter(s -> !s.lost() && s.heartbeat().state() != WorkerHeartbeat.State.STOPPING).toList();
    }
}
