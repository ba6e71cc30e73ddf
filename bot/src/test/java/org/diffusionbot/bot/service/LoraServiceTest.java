package org.diffusionbot.bot.service;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import org.diffusionbot.bot.workers.WorkerRegistry;
import org.diffusionbot.common.Sampler;
import org.diffusionbot.common.messages.JobRequest;
import org.diffusionbot.common.messages.WorkerHeartbeat;
import org.diffusionbot.common.messages.WorkerHeartbeat.Addon;
import org.diffusionbot.common.testing.SettableClock;
import org.junit.jupiter.api.Test;

/**
 * The LoRA rules a submission is checked against before it is charged, and {@code /loras}' listing, over heartbeats
 * as workers send them.
 */
class LoraServiceTest {
    private static final Instant T0 = Instant.parse("2026-11-30T12:00:00Z");
    private final SettableClock clock = new SettableClock(T0);
    private final WorkerRegistry registry = new WorkerRegistry(clock, 5);
    private final LoraService loras = new LoraService(registry);

    private static WorkerHeartbeat hb(String id, String model, String family, List<Addon> loras, List<Addon> emb) {
        return new WorkerHeartbeat(id, "host", "cpu", List.of(model), WorkerHeartbeat.State.IDLE, 0, 0, 0, T0, loras,
                emb, false, List.of(new WorkerHeartbeat.ModelInfo(model, family, 512, 512)), null);
    }

    private static JobRequest job(String model, String prompt, String negative) {
        return new JobRequest(UUID.randomUUID(), model, prompt, negative, 512, 512, 20, 7, Sampler.EULER_A, 1, 1, 1,
                null, null, 0, T0);
    }

    private Optional<String> check(String prompt, String negative, int max) {
        return loras.refusal(job("sd15", prompt, negative), max);
    }

    private void twoFamilies() {
        registry.record(hb("w1", "sd15", "sd1", List.of(new Addon("Watercolor", "sd1"), new Addon("sd15_kohya", "sd1"),
                new Addon("sd15_locon", "sd1"), new Addon("xl_style", "sdxl"), new Addon("any_style", "unknown")),
                List.of(new Addon("easynegative", "sd1"))));
        registry.record(hb("w2", "xl", "sdxl", List.of(new Addon("xl_style", "sdxl"), new Addon("xl_detail", "sdxl")),
                List.of(new Addon("xlneg", "sdxl"))));
    }

    @Test
    void knownLorasOfTheModelsFamilyPassWhateverTheirCaseAndWeights() {
        twoFamilies();
        assertEquals(Optional.empty(), check("a castle <lora:WATERCOLOR:0.8>, easynegative", "<lora:sd15_kohya:-1>", 4));
        assertEquals(Optional.empty(), check("<lora:sd15_locon:0.5:1> <lora:any_style>", "", 4),
                "a LoRA whose family is unknown fits every model");
        assertEquals(Optional.empty(), check("no tags at all <3", "", 0), "no LoRA: nothing to limit");
    }

    @Test
    void anUnknownLoraIsRefusedWithTheClosestNamesOfTheModelsFamily() {
        twoFamilies();
        assertEquals(Optional.of("there is no LoRA `sd15_koyha` for `sd15`; closest: `sd15_kohya`. Nothing was"
                + " charged."), check("a <lora:sd15_koyha:1>", "", 4));
        String r = check("x", "<lora:sd15:1>", 4).orElseThrow();
        assertTrue(r.contains("closest: `sd15_kohya`, `sd15_locon`"), r);
        assertTrue(check("<lora:pixelart>", "", 4).orElseThrow().contains("no LoRA `pixelart` for `sd15` (`/loras`"
                + " lists them)"));
        String xl = check("<lora:xl_detail:1>", "", 4).orElseThrow();
        assertTrue(xl.startsWith("there is no LoRA `xl_detail` for `sd15`") && !xl.contains("xl_style"),
                "another family's LoRAs are not suggested, and a LoRA only another model's workers have is unknown: "
                        + xl);
    }

    @Test
    void aLoraOfAnotherFamilyIsRefusedSayingSo() {
        twoFamilies();
        assertEquals(Optional.of("LoRA `xl_style` is for SDXL models and `sd15` is an SD 1.x model; closest:"
                + " `any_style`. Nothing was charged."), check("a castle <lora:xl_style:1>", "", 4),
                "the closest names that fit the model");
        assertEquals(Optional.empty(), loras.refusal(job("xl", "<lora:xl_style:1>", ""), 4));
        assertTrue(loras.refusal(job("xl", "<lora:watercolor:1>", ""), 4).orElseThrow()
                .startsWith("there is no LoRA `watercolor` for `xl`"));
    }

    @Test
    void theServersLimitCountsDistinctLorasOfPromptAndNegative() {
        twoFamilies();
        assertEquals(Optional.empty(), check("<lora:watercolor:1> <lora:Watercolor:0.2>", "<lora:sd15_kohya:1>", 2),
                "a LoRA named twice counts once");
        assertEquals(Optional.of("this server allows at most 2 LoRAs per prompt (the prompt and the negative prompt"
                + " together); yours names 3. Nothing was charged."),
                check("<lora:watercolor:1> <lora:sd15_kohya:1>", "<lora:sd15_locon:1>", 2));
        assertEquals(Optional.of("LoRAs are turned off on this server (an admin sets this with `/admin loras`). Nothing"
                + " was charged."), check("<lora:watercolor:1>", "", 0));
        assertTrue(check("<lora:a:1><lora:b:1>", "", 1).orElseThrow().contains("at most 1 LoRA per prompt"),
                "the limit comes before the names");
    }

    @Test
    void malformedTagsAreRefusedQuotingTheTag() {
        twoFamilies();
        assertEquals(Optional.of("`tag <lora:watercolor:lots>: weight \"lots\" is not a number`. Nothing was charged."),
                check("<lora:watercolor:lots>", "", 4));
        assertTrue(check("<hypernet:h:1>", "", 4).orElseThrow().startsWith("`unsupported tag <hypernet:h:1>"));
        assertTrue(check("<lora:a`b:x>", "", 4).orElseThrow().startsWith("`tag <lora:a'b:x>"), "inert in Discord");
    }

    @Test
    void aLoraMissingOnSomeWorkersOfTheModelIsRefusedAndLostWorkersDoNotCount() {
        twoFamilies();
        registry.record(hb("w3", "sd15", "sd1", List.of(new Addon("sd15_kohya", "sd1")), List.of()));
        assertEquals(Optional.of("LoRA `watercolor` is on only 1 of the 2 workers serving `sd15`, and a job may go to"
                + " any of them: ask an admin to copy it to every worker. Nothing was charged."),
                check("<lora:watercolor>", "", 4));
        assertEquals(Optional.empty(), check("<lora:sd15_kohya>", "", 4));
        clock.advance(Duration.ofSeconds(16)); // every worker lost
        registry.record(hb("w1", "sd15", "sd1", List.of(new Addon("Watercolor", "sd1")), List.of()));
        assertEquals(Optional.empty(), check("<lora:watercolor>", "", 4), "w3 is lost: it takes no job");
    }

    @Test
    void withoutALiveWorkerOnlyTheTagsAndTheLimitAreChecked() {
        assertEquals(Optional.empty(), check("<lora:anything:1>", "", 4));
        assertTrue(check("<lora:anything:x>", "", 4).isPresent());
        assertTrue(check("<lora:a><lora:b>", "", 1).isPresent());
    }

    @Test
    void listingMergesWorkersAndFiltersByNameAndFamily() {
        twoFamilies();
        registry.record(hb("w3", "sd15", "sd1", List.of(new Addon("watercolor", "sd1")), List.of()));
        List<LoraService.Addon> all = loras.list(null, null);
        assertEquals(List.of(
                new LoraService.Addon("lora", "any_style", "unknown", 1),
                new LoraService.Addon("lora", "sd15_kohya", "sd1", 1),
                new LoraService.Addon("lora", "sd15_locon", "sd1", 1),
                new LoraService.Addon("lora", "Watercolor", "sd1", 2),
                new LoraService.Addon("lora", "xl_detail", "sdxl", 1),
                new LoraService.Addon("lora", "xl_style", "sdxl", 2),
                new LoraService.Addon("embedding", "easynegative", "sd1", 1),
                new LoraService.Addon("embedding", "xlneg", "sdxl", 1)), all);
        assertEquals(List.of("xl_detail", "xl_style", "xlneg"),
                loras.list(" XL", null).stream().map(LoraService.Addon::name).toList());
        assertEquals(List.of("any_style", "xl_detail", "xl_style", "xlneg"),
                loras.list("", "sdxl").stream().map(LoraService.Addon::name).toList());
        assertEquals("SD 1.x", all.get(1).familyLabel());
        assertEquals("any model family", all.get(0).familyLabel());
    }
}
