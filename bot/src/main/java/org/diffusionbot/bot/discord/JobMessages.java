package org.diffusionbot.bot.discord;

import java.util.List;
import java.util.Locale;
import net.dv8tion.jda.api.utils.MarkdownSanitizer;
import org.diffusionbot.bot.service.CancelService;
import org.diffusionbot.bot.service.LoraService;
import org.diffusionbot.bot.service.FleetStatus;
import org.diffusionbot.bot.workers.WorkerRegistry;
import org.diffusionbot.common.GenerationLimits;
import org.diffusionbot.common.LoraTags;
import org.diffusionbot.common.ModelSpec;
import org.diffusionbot.common.Sampler;
import org.diffusionbot.common.Schedule;
import org.diffusionbot.common.Text;
import org.diffusionbot.common.messages.WorkerHeartbeat;
import org.diffusionbot.db.UserSettings;
import org.diffusionbot.db.JobRecord;
import org.diffusionbot.db.StoredImage;
import org.diffusionbot.db.QuotaStatus;

/**
 * The texts the bot shows. Everything a user typed is Markdown-escaped and shortened here, and
 * messages are sent with mentions disabled, so a prompt cannot format, ping or impersonate.
 */
public final class JobMessages {
    /** Longest prompt excerpt shown in a message (Discord allows 2000 characters in all). */
    static final int PROMPT_EXCERPT = 300;

    private JobMessages() {
    }

    public static String queued(String prompt, int position, QuotaStatus quota) {
        String where = position < 0 ? "waiting for a worker" : position == 0 ? "next in line"
                : "position " + (position + 1) + " in the queue";
        return "🎨 " + bold(prompt) + " — queued, " + where + " · " + quota.remainingToday() + " of "
                + quota.dailyLimit() + " images left today";
    }

    public static String queuedDelayed(String prompt, QuotaStatus quota) {
        return "🎨 " + bold(prompt) + " — accepted; the job queue is recovering, so it will be sent to a worker"
                + " as soon as it is back · " + quota.remainingToday() + " of " + quota.dailyLimit()
                + " images left today";
    }

    public static String progress(JobRecord job, int step, int total, long etaMillis) {
        return "🎨 " + bold(job.prompt()) + " — " + progressUnit(job) + step + "/" + total + " " + bar(step, total)
                + (step < total ? " · about " + Math.max(1, Math.round(etaMillis / 1000.0)) + " s left" : "");
    }

    /**
     * A job whose worker is loading its model first ({@code job_progress.loading_model}, step 0).
     *
     * @param lastLoadMillis how long the model's last load on that worker took; 0 when it never loaded it
     */
    public static String loading(JobRecord job, String model, long lastLoadMillis) {
        return "🎨 " + bold(job.prompt()) + " — loading model `" + code(shorten(model, 100)) + "` …"
                + (lastLoadMillis > 0 ? " (about " + Math.max(1, Math.round(lastLoadMillis / 1000.0)) + " s)" : "");
    }

    /** The result's text: prompt, parameters, seeds, the worker's notes and a line for flagged images. */
    public static String succeeded(JobRecord job, List<StoredImage> images, List<String> notes) {
        return succeeded(job, images.stream().map(StoredImage::seed).toList(), notes,
                images.stream().filter(StoredImage::withheld).map(StoredImage::index).toList(),
                images.stream().filter(StoredImage::spoiler).map(StoredImage::index).toList());
    }

    /** {@code withheld}, {@code spoilers}: the indexes (from 0) of the flagged images, by what the user is shown. */
    private static String succeeded(JobRecord job, List<Long> seeds, List<String> notes, List<Integer> withheld,
            List<Integer> spoilers) {
        StringBuilder sb = new StringBuilder();
        sb.append(bold(job.prompt()));
        if (!job.negativePrompt().isEmpty()) {
            sb.append("\nNegative: ").append(excerpt(job.negativePrompt()));
        }
        sb.append('\n').append(parameters(job));
        sb.append(" · seed").append(seeds.size() > 1 ? "s " : " ")
                .append(String.join(", ", seeds.stream().map(String::valueOf).toList()));
        for (String note : notes) {
            sb.append("\n📝 ").append(escape(note));
        }
        if (!withheld.isEmpty()) {
            sb.append("\n🛡️ ").append(images(withheld)).append(" flagged by the image safety check and withheld"
                    + " (this server's setting; an age-restricted channel shows images unchecked).");
        }
        if (!spoilers.isEmpty()) {
            sb.append("\n🛡️ ").append(images(spoilers)).append(" flagged by the image safety check: shown as a"
                    + " spoiler, and kept out of the gallery.");
        }
        sb.append("\n<@").append(job.userId()).append('>');
        return sb.toString();
    }

    /** "Image 2 was" / "Images 1, 3 were" (indexes from 0, shown from 1). */
    private static String images(List<Integer> indexes) {
        return (indexes.size() == 1 ? "Image " : "Images ")
                + String.join(", ", indexes.stream().map(i -> String.valueOf(i + 1)).toList())
                + (indexes.size() == 1 ? " was" : " were");
    }

    public static String failed(JobRecord job, String reason, boolean cancelled) {
        return (cancelled ? "🚫 " : "❌ ") + bold(job.prompt()) + " — "
                + (cancelled ? "cancelled" : "failed: " + escape(reason)) + ". The " + job.quotaCharged()
                + " image(s) were given back to your allowance.";
    }

    public static String quota(QuotaStatus q) {
        return "You have **" + q.remainingToday() + "** of " + q.dailyLimit() + " images left today (resets <t:"
                + q.resetsAt().getEpochSecond() + ":R>) and " + q.activeJobs() + " of " + q.maxActive()
                + " jobs queued or running.";
    }

    public static String jobs(List<JobRecord> jobs) {
        if (jobs.isEmpty()) {
            return "You have no jobs yet. Try `/imagine`.";
        }
        StringBuilder sb = new StringBuilder("Your recent jobs:");
        for (JobRecord j : jobs) {
            sb.append("\n`").append(j.id()).append("` ").append(j.state().name().toLowerCase(Locale.ROOT))
                    .append(" <t:").append(j.createdAt().getEpochSecond()).append(":R> — ")
                    .append(escape(shorten(j.prompt(), 80)));
            if (j.error() != null && !j.state().name().equals("SUCCEEDED")) {
                sb.append(" (").append(escape(shorten(j.error(), 80))).append(')');
            }
        }
        return sb.toString();
    }

    /** The answer to {@code /cancel} and the Cancel button. */
    public static String cancelled(CancelService.Result r) {
        if (r instanceof CancelService.Result.Cancelled c) {
            return "🚫 Cancelled " + bold(c.job().prompt()) + "; " + c.job().quotaCharged()
                    + " image(s) were given back to your allowance.";
        }
        if (r instanceof CancelService.Result.NoActiveJob) {
            return "You have no queued or running job.";
        }
        if (r instanceof CancelService.Result.NotAnId) {
            return "❌ That is not a job id; `/jobs` lists yours.";
        }
        return "❌ No queued or running job of yours has that id.";
    }

    /** {@code /models}: what the workers announce, each model's queue and an ETA for a job sent now. */
    public static String models(List<FleetStatus.ModelStatus> models, String defaultModel, boolean paused) {
        if (models.isEmpty()) {
            return "No worker has announced a model in the last few seconds, so no job can run right now."
                    + (paused ? "\n⏸️ The bot is paused by an admin." : "");
        }
        StringBuilder sb = new StringBuilder("Models served now (use `/imagine model:`):");
        for (FleetStatus.ModelStatus m : models) {
            sb.append("\n• `").append(code(m.name())).append('`')
                    .append(m.name().equals(defaultModel) ? " (default)" : "")
                    .append(" — ").append(spec(m.spec()))
                    .append(" · ").append(m.workers()).append(m.workers() == 1 ? " worker" : " workers")
                    .append(m.busy() > 0 ? ", " + m.busy() + " busy" : "")
                    .append(m.loaded() < m.workers() ? ", loaded on " + m.loaded() + " (the others load it when a job"
                            + " needs it)" : "")
                    .append(" · ").append(queue(m)).append(" · ").append(eta(m));
        }
        if (paused) {
            sb.append("\n⏸️ The bot is paused by an admin: new jobs are refused.");
        }
        return sb.toString();
    }

    /** Most add-ons {@code /loras} lists (the rest: narrow the search). */
    static final int LORAS_LISTED = 150;

    /** {@code /loras}: the LoRAs and embeddings of the live workers, how to use them. */
    public static String loras(List<LoraService.Addon> addons, String search, String family) {
        String filter = (search == null || search.isBlank() ? "" : " matching `" + code(shorten(search, 100)) + "`")
                + (family == null ? "" : " for " + escape(LoraService.Addon.familyLabelOf(family)) + " models");
        if (addons.isEmpty()) {
            return "No worker announces a LoRA or an embedding" + filter + " right now.";
        }
        StringBuilder sb = new StringBuilder("LoRAs and embeddings" + filter + " (a LoRA: `<lora:NAME:WEIGHT>` in the"
                + " prompt or the negative prompt, weight 1 when left out, `<lora:NAME:TE:UNET>` for separate text-encoder"
                + " and UNet weights; an embedding: its name as a word):");
        String kind = null;
        int n = 0;
        for (LoraService.Addon a : addons) {
            if (n == LORAS_LISTED) {
                sb.append("\n… and ").append(addons.size() - n).append(" more: narrow it with `search:`.");
                break;
            }
            if (!a.kind().equals(kind)) {
                kind = a.kind();
                sb.append(kind.equals(LoraService.LORA) ? "\n**LoRAs**" : "\n**Embeddings**");
            }
            sb.append("\n• `").append(code(shorten(a.name(), 100))).append("` · ").append(escape(a.familyLabel()))
                    .append(a.workers() > 1 ? " · " + a.workers() + " workers" : "");
            n++;
        }
        return sb.toString();
    }

    /**
     * The LoRAs a job's prompt and negative prompt name, as {@code `name` 0.8} ({@code `name` TE 0.5 / UNet 1} when the
     * weights differ; a LoRA named twice: the sum, as the worker applies it), or null for none or malformed tags.
     */
    static String lorasUsed(String prompt, String negative) {
        java.util.Map<String, LoraTags.Lora> set;
        java.util.Map<String, String> spelled = new java.util.HashMap<>();
        try {
            set = LoraTags.set(prompt, negative);
            for (String t : new String[] {prompt, negative}) {
                LoraTags.parse(t).loras().forEach(l -> spelled.putIfAbsent(l.key(), l.name()));
            }
        } catch (IllegalArgumentException e) {
            return null;
        }
        if (set.isEmpty()) {
            return null;
        }
        return String.join(", ", set.values().stream().map(l -> "`" + code(shorten(spelled.get(l.name()), 100)) + "` "
                + (l.te() == l.unet() ? num(l.unet()) : "TE " + num(l.te()) + " / UNet " + num(l.unet()))).toList());
    }

    /** e.g. {@code queue: 3 waiting, 1 running} or {@code queue empty}. */
    static String queue(FleetStatus.ModelStatus m) {
        if (m.queued() == 0 && m.running() == 0) {
            return "queue empty";
        }
        return "queue: " + m.queued() + " waiting" + (m.running() > 0 ? ", " + m.running() + " running" : "");
    }

    /** e.g. {@code a new job: about 45 s}, or why there is no estimate. */
    static String eta(FleetStatus.ModelStatus m) {
        return m.eta() == null ? "no ETA yet (no job of it finished lately)" : "a new job: " + about(m.eta());
    }

    /** {@code about 45 s}, {@code about 12 min}, {@code about 3 h}. */
    static String about(java.time.Duration d) {
        long s = Math.max(1, Math.round(d.toMillis() / 1000.0));
        return s < 100 ? "about " + s + " s" : s < 100 * 60 ? "about " + Math.round(s / 60.0) + " min"
                : "about " + Math.round(s / 3600.0) + " h";
    }

    /** A model's family and native size, e.g. {@code SDXL, 1024x1024}; null: "family not announced yet". */
    static String spec(ModelSpec spec) {
        return spec == null ? "family not announced yet (taken as SD 1.x, 512x512)"
                : spec.family().label() + ", " + spec.nativeWidth() + "x" + spec.nativeHeight();
    }

    /**
     * {@code /admin workers}: each served model (family, queue in PostgreSQL and RabbitMQ, workers with it loaded,
     * typical run time, ETA), then every worker with its last heartbeat (resident and loadable models).
     */
    public static String workers(List<WorkerRegistry.Seen> workers, List<FleetStatus.ModelStatus> models,
            boolean paused) {
        StringBuilder sb = new StringBuilder(paused ? "⏸️ **Paused** (new jobs refused; queued jobs still run)\n"
                : "▶️ Taking jobs\n");
        if (!models.isEmpty()) {
            sb.append(models.size()).append(models.size() == 1 ? " model:" : " models:");
            for (FleetStatus.ModelStatus m : models) {
                sb.append("\n• `").append(code(shorten(m.name(), 100))).append("` ").append(spec(m.spec()))
                        .append(" · ").append(queue(m))
                        .append(m.ready() == null ? "" : " (" + m.ready() + " ready in RabbitMQ)")
                        .append(" · loaded on ").append(m.loaded()).append(" of ").append(m.workers())
                        .append(m.workers() == 1 ? " worker" : " workers")
                        .append(m.typicalRun() == null ? "" : " · a job runs " + about(m.typicalRun()))
                        .append(" · ").append(eta(m));
            }
            sb.append('\n');
        }
        if (workers.isEmpty()) {
            return sb.append("No worker has sent a heartbeat in the last hour.").toString();
        }
        sb.append(workers.size()).append(workers.size() == 1 ? " worker:" : " workers:");
        for (WorkerRegistry.Seen s : workers) {
            var hb = s.heartbeat();
            sb.append("\n").append(s.lost() ? "🔴" : hb.state() == WorkerHeartbeat.State.BUSY ? "🟡" : "🟢")
                    .append(" `").append(code(shorten(hb.workerId(), 60))).append("` on ")
                    .append(escape(shorten(hb.host(), 60))).append(" · ").append(escape(shorten(hb.device(), 60)))
                    .append(" · ").append(escape(shorten(String.join(", ", hb.residentModels()), 120)))
                    .append(hb.loadableModels().isEmpty() ? ""
                            : " (can load " + escape(shorten(String.join(", ", hb.loadableModels()), 120)) + ")")
                    .append(" · **").append(s.lost() ? "lost" : hb.state().name().toLowerCase(Locale.ROOT)).append("**")
                    .append(" · ").append(hb.jobsDone()).append(" jobs done · ")
                    .append(String.format(Locale.ROOT, "%.2f", hb.stepsPerSecond())).append(" steps/s")
                    .append(" · last heartbeat <t:").append(s.receivedAt().getEpochSecond()).append(":R>");
        }
        return sb.toString();
    }

    /**
     * The ephemeral answer to the info button: every parameter and an /imagine line that reproduces the job.
     *
     * @param guidanceRescale the request's {@code guidance_rescale} φ (0: none, not shown)
     */
    public static String info(JobRecord job, List<Long> seeds, double guidanceRescale) {
        StringBuilder sb = new StringBuilder("ℹ️ Job `").append(job.id()).append("` · ").append(job.kind())
                .append(" · ").append(job.state().name().toLowerCase(Locale.ROOT));
        sb.append("\n**Prompt:** ").append(escape(shorten(job.prompt(), 700)));
        sb.append("\n**Negative:** ").append(job.negativePrompt().isEmpty() ? "(none)"
                : escape(shorten(job.negativePrompt(), 400)));
        sb.append("\n**Size** ").append(job.width()).append('x').append(job.height())
                .append(" · **steps** ").append(job.steps())
                .append(" · **sampler** ").append(samplerName(job.sampler())).append(" (`").append(code(job.sampler()))
                .append("`) · **CFG** ").append(num(job.cfg()))
                .append(" · **seed").append(seeds.size() > 1 ? "s** " : "** ")
                .append(String.join(", ", (seeds.isEmpty() ? List.of(job.seed()) : seeds).stream()
                        .map(String::valueOf).toList()))
                .append(" · **count** ").append(job.imageCount())
                .append(" · **model** `").append(code(job.model())).append('`');
        if (job.strength() != null) {
            sb.append(" · **strength** ").append(num(job.strength()));
        }
        if (job.clipSkip() != GenerationLimits.FAMILY_DEFAULT_CLIP_SKIP) { // 0: the model's default (SDXL 2, else 1)
            sb.append(" · **clip skip** ").append(job.clipSkip());
        }
        if (guidanceRescale != 0) {
            sb.append(" · **guidance rescale** ").append(num(guidanceRescale));
        }
        String loras = lorasUsed(job.prompt(), job.negativePrompt());
        if (loras != null) {
            sb.append("\n**LoRAs:** ").append(loras);
        }
        sb.append("\nReproduce").append(job.strength() != null
                ? " the prompt and settings (this was img2img from an earlier image, which /imagine cannot take)" : "")
                .append(":");
        return sb.toString();
    }

    /** {@code /settings}: the user's defaults. */
    public static String settings(UserSettings s, boolean changed) {
        StringBuilder sb = new StringBuilder(changed ? "✅ Saved. Your defaults for `/imagine`:" : "Your defaults for"
                + " `/imagine` (change them with `/settings`):");
        sb.append("\n• sampler: ").append(s.sampler() == null ? "bot default (" + Sampler.DEFAULT.displayName() + ")"
                : samplerName(s.sampler()));
        sb.append("\n• schedule: ").append(s.schedule() == null ? "the model's or the sampler's own"
                : scheduleName(s.schedule()));
        sb.append("\n• steps: ").append(s.steps() == null ? "bot default (" + GenerationLimits.DEFAULT_STEPS + ")"
                : s.steps());
        sb.append("\n• cfg: ").append(s.cfg() == null ? "bot default (" + num(GenerationLimits.DEFAULT_CFG) + ")"
                : num(s.cfg()));
        sb.append("\n• guidance rescale: ").append(s.guidanceRescale() == null ? "bot default (0: none)"
                : num(s.guidanceRescale()));
        sb.append("\n• clip skip: ").append(s.clipSkip() == null
                ? "the model's default (1: CLIP's last layer; SDXL 2: the penultimate)" : s.clipSkip());
        sb.append("\n• size: ").append(s.width() == null ? "the model's native size (e.g. 512x512 for SD 1.5, 1024x1024"
                + " for SDXL)" : s.width() + "x" + s.height());
        sb.append("\n• negative prompt: ").append(s.negativePrompt() == null ? "the server's default, if any"
                : excerpt(s.negativePrompt()));
        sb.append("\n• gallery: ").append(s.galleryPublic() ? "your images are shown in the gallery"
                : "your images are kept out of the gallery");
        return sb.toString();
    }

    static String samplerName(String id) {
        try {
            return Sampler.fromId(id).displayName();
        } catch (IllegalArgumentException e) {
            return escape(id);
        }
    }

    static String scheduleName(String id) {
        try {
            return Schedule.fromId(id).displayName();
        } catch (IllegalArgumentException e) {
            return escape(id);
        }
    }

    /**
     * What the worker's progress counts: model calls (UNet evaluations), which is what takes the time.
     * They are the steps, except for Heun (two per step but the last) and PLMS (one more).
     */
    static String progressUnit(JobRecord job) {
        try {
            Sampler s = Sampler.fromId(job.sampler());
            if (s.modelCallsFor(job.steps()) == job.steps()) {
                return "step ";
            }
            return s == Sampler.HEUN ? "model call (Heun: 2 per step) " : "model call ";
        } catch (IllegalArgumentException e) {
            return "step ";
        }
    }

    static String num(double d) {
        return d == Math.rint(d) ? String.valueOf((long) d) : String.valueOf(d);
    }

    /** Text inside a code span or block: backticks cannot close it. */
    static String code(String s) {
        return Text.codeText(s);
    }

    static String oneLine(String s) {
        return s.replaceAll("\\s+", " ").trim();
    }

    static String parameters(JobRecord job) {
        String sampler;
        try {
            sampler = Sampler.fromId(job.sampler()).displayName();
        } catch (IllegalArgumentException e) {
            sampler = job.sampler();
        }
        return job.width() + "x" + job.height() + " · " + job.steps() + " steps · " + sampler + " · CFG "
                + (job.cfg() == Math.rint(job.cfg()) ? String.valueOf((long) job.cfg()) : String.valueOf(job.cfg()))
                + " · " + escape(job.model());
    }

    static String bar(int step, int total) {
        int filled = total == 0 ? 0 : Math.min(10, step * 10 / total);
        return "`" + "█".repeat(filled) + "░".repeat(10 - filled) + "`";
    }

    static String bold(String text) {
        return "**" + excerpt(text) + "**";
    }

    static String excerpt(String text) {
        return escape(shorten(text, PROMPT_EXCERPT));
    }

    /** {@code s} on one line (whitespace collapsed), at most {@code max} characters, cut between characters. */
    static String shorten(String s, int max) {
        return Text.shorten(oneLine(s), max);
    }

    /**
     * Text a user (or a worker) wrote, made inert in a Discord message: JDA's {@link MarkdownSanitizer} escapes
     * emphasis, code, spoilers and quotes; the rest of Discord's markdown is escaped here: masked links
     * ({@code [text](url)}), angle-bracket syntax ({@code <t:0:R>}, {@code <#channel>}, {@code <:emoji:id>},
     * {@code <url>}), and at the start of a line headers ({@code #}), subtext ({@code -#}) and lists ({@code -},
     * {@code +}, {@code 1.}). Mentions ({@code @everyone}, {@code <@id>}) are broken at the '@' as well (and messages
     * are sent with mentions disabled).
     */
    static String escape(String s) {
        String md = MarkdownSanitizer.escape(s);
        StringBuilder sb = new StringBuilder(md.length() + 16);
        boolean lineStart = true;
        for (int i = 0; i < md.length(); i++) {
            char c = md.charAt(i);
            boolean escaped = backslashes(md, i) % 2 == 1;
            if (!escaped && (c == '[' || c == ']' || c == '<'
                    || lineStart && (c == '#' || c == '-' || c == '+' || c == '*')
                    || c == '.' && orderedListNumber(md, i))) {
                sb.append('\\');
            }
            sb.append(c);
            lineStart = c == '\n' || lineStart && c == ' ';
        }
        return sb.toString().replace("@", "@\u200b");
    }

    /** How many backslashes stand right before index {@code i} (an odd number escapes the character there). */
    private static int backslashes(String s, int i) {
        int n = 0;
        while (i - n - 1 >= 0 && s.charAt(i - n - 1) == '\\') {
            n++;
        }
        return n;
    }

    /** Whether the '.' at {@code i} ends the number that starts a line ("1. item": an ordered list). */
    private static boolean orderedListNumber(String s, int i) {
        int j = i - 1;
        while (j >= 0 && Character.isDigit(s.charAt(j))) {
            j--;
        }
        if (j == i - 1) {
            return false;
        }
        while (j >= 0 && s.charAt(j) == ' ') {
            j--;
        }
        return j < 0 || s.charAt(j) == '\n';
    }
}
