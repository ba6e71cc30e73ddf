package org.diffusionbot.bot.service;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import org.diffusionbot.bot.moderation.BlockedTerm;
import org.diffusionbot.bot.moderation.PromptFilter;
import org.diffusionbot.common.Sampler;
import org.diffusionbot.common.messages.JobRequest;
import org.junit.jupiter.api.Test;

/** What {@link ModerationService.Rules} refuse before anything is charged, and what the user is told. */
class ModerationRulesTest {
    static final PromptFilter FILTER = PromptFilter.of(List.of(BlockedTerm.parse("gore"),
            BlockedTerm.parse("/b`ad+/")));

    static JobRequest job(String prompt, String negative, boolean ageRestricted) {
        return new JobRequest(UUID.randomUUID(), "sd15", prompt, negative, 512, 512, 20, 7, Sampler.EULER_A, 1, 1, 1,
                null, null, 0, Instant.EPOCH).withAgeRestricted(ageRestricted);
    }

    @Test
    void aBlockedTermInThePromptOrTheNegativePromptIsNamed() {
        ModerationService.Rules rules = new ModerationService.Rules(FILTER, false);
        assertEquals(Optional.of(new ModerationService.Refusal.Blocked("gore", "prompt")),
                rules.check(job("a (GÓRE:1.3) scene", "", false), true));
        assertEquals(Optional.of(new ModerationService.Refusal.Blocked("gore", "negative prompt")),
                rules.check(job("a quiet scene", "blurry, g\u200bore", true), true));
        assertEquals(Optional.empty(), rules.check(job("gorehound's gorge", "", false), false),
                "whole words only; the channel rule is off");
        String message = rules.check(job("b`addd", "", false), true).orElseThrow().message();
        assertEquals("your prompt contains `/b'ad+/`, which is blocked on this server. Nothing was charged.", message,
                "the term in a code span its backtick cannot close");
    }

    @Test
    void aServerCanRequireAgeRestrictedChannelsWhileImagesAreNotChecked() {
        ModerationService.Rules rules = new ModerationService.Rules(FILTER, true);
        Optional<ModerationService.Refusal> r = rules.check(job("a cat", "", false), false);
        assertEquals(Optional.of(new ModerationService.Refusal.NeedsAgeRestrictedChannel("sd15")), r);
        assertTrue(r.get().message().contains("only in age-restricted channels")
                && r.get().message().contains("`sd15`") && r.get().message().endsWith("Nothing was charged."),
                r.get().message());
        assertEquals(Optional.empty(), rules.check(job("a cat", "", true), false), "an age-restricted channel");
        assertEquals(Optional.empty(), rules.check(job("a cat", "", false), true), "the workers check the images");
        assertEquals(Optional.of(new ModerationService.Refusal.Blocked("gore", "prompt")),
                rules.check(job("gore", "", false), false), "a blocked prompt is named (and audited) first");
        assertEquals(Optional.empty(), new ModerationService.Rules(FILTER, false).check(job("a cat", "", false), false),
                "servers that do not require it");
        assertEquals(Optional.empty(), ModerationService.Rules.NONE.check(job("gore", "", false), false));
    }
}
