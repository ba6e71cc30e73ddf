package org.diffusionbot.bot.discord;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Instant;
import java.util.List;
import java.util.UUID;
import org.diffusionbot.bot.service.CancelService;
import org.diffusionbot.bot.service.ImagineLine;
import org.diffusionbot.db.JobRecord;
import org.diffusionbot.db.JobState;
import org.diffusionbot.db.ImageSafety;
import org.diffusionbot.db.ModerationStore;
import org.diffusionbot.db.StoredImage;
import org.diffusionbot.db.QuotaStatus;
import org.diffusionbot.db.UserSettings;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** What users typed can neither format a message nor break it: escaped markdown, whole characters. */
class JobMessagesTest {
    static final String LINK = "[free nitro](https://evil.example/login)";
    static final QuotaStatus QUOTA = new QuotaStatus(1, 10, 1, 2, Instant.EPOCH);
    /** The job's own timestamp, which the bot shows as {@code <t:1:R>} (user text has {@code <t:0:R>}). */
    static final Instant OWN_TIME = Instant.ofEpochSecond(1);

    static JobRecord job(String prompt, String negative) {
        return new JobRecord(UUID.randomUUID(), 1, 2L, 3, "imagine", "sd15", prompt, negative, 512, 512, 20, 7,
                "euler", 42, 1, 0, null, JobState.SUCCEEDED, 1, 1, "w", "boom " + LINK, null, null, null,
                OWN_TIME, null, null, null, false, null);
    }

    /** Index of a character Discord would read as markdown syntax (not preceded by an escaping backslash). */
    static int active(String s, char c) {
        for (int i = s.indexOf(c); i >= 0; i = s.indexOf(c, i + 1)) {
            int n = 0;
            while (i - n - 1 >= 0 && s.charAt(i - n - 1) == '\\') {
                n++;
            }
            if (n % 2 == 0) {
                return i;
            }
        }
        return -1;
    }

    static void assertInert(String message) {
        assertEquals(-1, active(message, '['), "masked link opens: " + message);
        for (int i = message.indexOf('<'); i >= 0; i = message.indexOf('<', i + 1)) {
            boolean escaped = i > 0 && message.charAt(i - 1) == '\\';
            assertTrue(escaped || message.startsWith("<t:1:R>", i), "angle syntax at " + i + ": " + message);
        }
        assertFalse(message.contains("@everyone"), message);
        for (int i = 0; i < message.length(); i++) {
            char c = message.charAt(i);
            assertFalse(Character.isHighSurrogate(c) ? i + 1 == message.length()
                    || !Character.isLowSurrogate(message.charAt(++i)) : Character.isLowSurrogate(c),
                    "lone surrogate at " + i + ": " + message);
        }
    }

    @Test
    void maskedLinksAndAngleSyntaxAreEscaped() {
        String s = JobMessages.escape(LINK + " <t:0:R> <#123> <:e:1> <https://x.example> @everyone");
        assertInert(s);
        assertTrue(s.contains("\\[free nitro\\](https://evil.example/login)"), s);
        assertTrue(s.contains("\\<t:0:R>"), s);
    }

    @Test
    void anEscapedBracketIsNotUnescapedAgain() {
        // the user's own backslash escapes the first bracket; a doubled backslash does not
        assertInert(JobMessages.escape("\\[a](https://x.example) \\\\[b](https://y.example)"));
    }

    @ParameterizedTest
    @ValueSource(strings = {"# header", "## header", "-# subtext", "- item", "+ item", "1. item", "  12. item"})
    void lineStartSyntaxIsEscaped(String line) {
        for (String s : List.of(line, "first line\n" + line)) {
            String e = JobMessages.escape(s);
            String last = e.substring(e.lastIndexOf('\n') + 1).stripLeading();
            assertTrue(last.startsWith("\\") || last.matches("\\d+\\\\\\..*"), s + " -> " + e);
        }
        assertEquals("a - b # c 1. d", JobMessages.escape("a - b # c 1. d"), "inside a line these format nothing");
    }

    @Test
    void everyMessageWithUserTextIsInert() {
        String prompt = LINK + " # not a header <t:0:R> @everyone " + "😀".repeat(400);
        JobRecord j = job(prompt, LINK + " " + "🎨".repeat(400));
        assertInert(JobMessages.queued(prompt, 2, QUOTA));
        assertInert(JobMessages.queuedDelayed(prompt, QUOTA));
        assertInert(JobMessages.progress(j, 3, 20, 4000));
        assertInert(JobMessages.loading(j, "sdxl", 12_400));
        assertTrue(JobMessages.loading(j, "sdxl", 12_400).endsWith(" — loading model `sdxl` … (about 12 s)"));
        assertTrue(JobMessages.loading(j, "sdxl", 0).endsWith(" — loading model `sdxl` …"));
        String succeeded = JobMessages.succeeded(j, List.of(new StoredImage(0, 42, 512, 512, new byte[0], new byte[0], "")),
                List.of("note " + LINK));
        assertTrue(succeeded.endsWith("\n<@" + j.userId() + ">"), "the author's own mention ends it: " + succeeded);
        assertInert(succeeded.substring(0, succeeded.lastIndexOf('\n')));
        assertInert(JobMessages.failed(j, "worker said " + LINK, false));
        assertInert(JobMessages.jobs(List.of(j)));
        assertInert(JobMessages.info(j, List.of(42L), 0));
        assertInert(JobMessages.settings(new UserSettings(null, null, null, null, null, prompt, true), false));
        assertInert(JobMessages.cancelled(new CancelService.Result.Cancelled(j)));
    }

    @Test
    void infoAndTheImagineLineShowGuidanceRescaleWhenSet() {
        JobRecord j = job("a castle", "");
        assertTrue(JobMessages.info(j, List.of(42L), 0.7).contains(" · **guidance rescale** 0.7"));
        assertFalse(JobMessages.info(j, List.of(42L), 0).contains("guidance rescale"));
        assertTrue(ImagineLine.of(j, 0.7).endsWith(" model:" + j.model() + " guidance_rescale:0.7"));
        assertFalse(ImagineLine.of(j, 0).contains("guidance_rescale"));
    }

    @Test
    void infoShowsTheLorasUsedAndLoraNamesCannotFormat() {
        JobRecord j = job("a castle <lora:Water*Color:0.8> <lora:sd15_kohya:0.5:1>", "<lora:water*color:0.2>, blurry");
        String info = JobMessages.info(j, List.of(42L), 0);
        assertTrue(info.contains("\n**LoRAs:** `sd15_kohya` TE 0.5 / UNet 1, `Water*Color` 1\n"), info);
        assertFalse(JobMessages.info(job("no tags", ""), List.of(42L), 0).contains("LoRAs"));
        assertFalse(JobMessages.info(job("<lora:bad:x>", ""), List.of(42L), 0).contains("LoRAs"));
        String listed = JobMessages.loras(List.of(new org.diffusionbot.bot.service.LoraService.Addon("lora",
                "x`[free](https://evil.example)", "sd1", 2), new org.diffusionbot.bot.service.LoraService.Addon(
                "embedding", "easynegative", "unknown", 1)), "a`b", "sd1");
        assertTrue(listed.startsWith("LoRAs and embeddings matching `a'b` for SD 1.x models"), listed);
        assertTrue(listed.contains("\n**LoRAs**\n• `x'[free](https://evil.example)` · SD 1.x · 2 workers\n"
                + "**Embeddings**\n• `easynegative` · any model family"), listed);
        assertEquals("No worker announces a LoRA or an embedding for SDXL models right now.",
                JobMessages.loras(List.of(), null, "sdxl"));
    }

    @Test
    void aResultSaysWhichImagesTheSafetyCheckFlaggedAndWhatBecameOfThem() {
        JobRecord j = job("four cats", "");
        String text = JobMessages.succeeded(j, List.of(image(0, null), image(1, ModerationStore.FlaggedAction.SPOILER),
                image(2, ModerationStore.FlaggedAction.WITHHOLD), image(3, ModerationStore.FlaggedAction.WITHHOLD)),
                List.of());
        assertTrue(text.contains(" · seeds 100, 101, 102, 103\n"), text);
        assertTrue(text.contains("\n🛡️ Images 3, 4 were flagged by the image safety check and withheld"), text);
        assertTrue(text.contains("\n🛡️ Image 2 was flagged by the image safety check: shown as a spoiler"), text);
        String clean = JobMessages.succeeded(j, List.of(image(0, null)), List.of());
        assertFalse(clean.contains("🛡️"), clean);
    }

    /** Image {@code i}: passed the check ({@code shownAs} null) or flagged and shown so. */
    private static StoredImage image(int i, ModerationStore.FlaggedAction shownAs) {
        return new StoredImage(i, 100 + i, 512, 512, new byte[0], new byte[0], "",
                shownAs == null ? ImageSafety.PASSED : ImageSafety.FLAGGED, shownAs == null ? -0.1f : 0.2f, shownAs);
    }

    @Test
    void excerptsEndOnWholeCharacters() {
        // 299 letters then emoji: the 300-character cut falls inside the first emoji's surrogate pair by UTF-16 index
        String prompt = "a".repeat(299) + "😀😀😀";
        String bold = JobMessages.bold(prompt);
        assertInert(bold);
        assertTrue(bold.endsWith("…**"), bold);
        assertEquals("a".repeat(299) + "…", JobMessages.shorten(prompt, JobMessages.PROMPT_EXCERPT));
        assertEquals("a".repeat(298) + "😀…", JobMessages.shorten("a".repeat(298) + "😀😀😀", JobMessages.PROMPT_EXCERPT));
    }

    @Test
    void longAnswersAreSplitOnWholeCharacters() {
        String line = "😀".repeat(Replies.MAX_CONTENT + 10);
        List<String> parts = Replies.split("head\n" + line + "\ntail");
        for (String p : parts) {
            assertInert(p);
            assertTrue(p.codePointCount(0, p.length()) <= Replies.MAX_CONTENT, p.length() + " chars");
        }
        assertEquals("tail", parts.get(parts.size() - 1).substring(parts.get(parts.size() - 1).lastIndexOf('\n') + 1));
    }

    @Test
    void longEtasAreShownInMinutesAndHours() {
        assertEquals("about 99 s", JobMessages.about(java.time.Duration.ofSeconds(99)));
        assertEquals("about 2 min", JobMessages.about(java.time.Duration.ofSeconds(100)));
        assertEquals("about 2 h", JobMessages.about(java.time.Duration.ofMinutes(100)));
    }

    static JobRecord job(String sampler, int steps, String schedule) {
        return new JobRecord(UUID.randomUUID(), 1, 2L, 3, "imagine", "sd15", "frogs", "", 512, 512, steps, 7,
                sampler, 42, 1, 0, null, JobState.SUCCEEDED, 1, 1, "w", null, null, null, null,
                OWN_TIME, null, null, null, false, schedule);
    }

    @Test
    void theImagineLineCarriesANonDefaultSchedule() {
        assertTrue(ImagineLine.of(job("euler", 6, "trailing"), 0).contains(" sampler:euler schedule:trailing width:"));
        assertTrue(ImagineLine.of(job("euler", 6, "default"), 0).contains(" sampler:euler width:"));
        assertTrue(ImagineLine.of(job("euler", 6, null), 0).contains(" sampler:euler width:"));
    }

    /** Heun's progress counts model calls, two per step but the last, and says so; the ETA is the worker's. */
    @Test
    void heunProgressCountsModelCalls() {
        String heun = JobMessages.progress(job("heun", 5, null), 3, 9, 4000);
        assertTrue(heun.contains("model call (Heun: 2 per step) 3/9"), heun);
        assertTrue(heun.contains("about 4 s left"), heun);
        String euler = JobMessages.progress(job("euler", 5, null), 3, 5, 4000);
        assertTrue(euler.contains("step 3/5"), euler);
    }

    @Test
    void settingsShowTheSchedule() {
        String s = JobMessages.settings(new UserSettings("euler", null, null, null, null, null, true, "trailing"), false);
        assertTrue(s.contains("• schedule: SGM Uniform"), s);
        assertTrue(s.contains("• guidance rescale: bot default (0: none)"), s);
        String r = JobMessages.settings(new UserSettings(null, null, null, null, null, null, true, null, 0.7), true);
        assertTrue(r.contains("• guidance rescale: 0.7"), r);
        assertTrue(s.contains("• clip skip: the model's default (1: CLIP's last layer; SDXL 2: the penultimate)"), s);
        String c = JobMessages.settings(new UserSettings(null, null, null, null, null, null, true, null, null, 2), true);
        assertTrue(c.contains("• clip skip: 2"), c);
    }

    @Test
    void infoAndTheImagineLineShowClipSkipWhenNotTheModelsDefault() {
        JobRecord none = job("a castle", "");
        assertEquals(0, none.clipSkip(), "none chosen (or the family's default chosen)");
        assertFalse(ImagineLine.of(none, 0).contains("clip_skip"));
        assertFalse(JobMessages.info(none, List.of(42L), 0).contains("clip skip"));
        JobRecord two = clipSkip("sd15", 2);
        assertTrue(ImagineLine.of(two, 0.7).endsWith(" model:sd15 guidance_rescale:0.7 clip_skip:2"),
                ImagineLine.of(two, 0.7));
        assertTrue(JobMessages.info(two, List.of(42L), 0).contains(" · **clip skip** 2"));
        JobRecord last = clipSkip("sdxl", 1);
        assertTrue(ImagineLine.of(last, 0).endsWith(" model:sdxl clip_skip:1"), "SDXL's 1 (its last layer) is no default");
        assertTrue(JobMessages.info(last, List.of(42L), 0).contains(" · **clip skip** 1"));
    }

    private static JobRecord clipSkip(String model, int clipSkip) {
        return new JobRecord(UUID.randomUUID(), 1, 2L, 3, "imagine", model, "a castle", "", 512, 512, 20, 7,
                "euler", 42, 1, clipSkip, null, JobState.SUCCEEDED, 1, 1, "w", null, null, null, null, OWN_TIME, null,
                null, null, false, null);
    }
}
