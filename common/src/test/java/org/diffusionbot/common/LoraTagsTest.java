package org.diffusionbot.common;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class LoraTagsTest {
    @Test
    void tagsAreCutAsAutomatic1111CutsThem() {
        LoraTags.Parsed p = LoraTags.parse("a castle in the clouds <lora:sd15_kohya:0.6> <lora:sd15_locon:0.8>");
        assertEquals("a castle in the clouds  ", p.text());
        assertEquals(List.of(new LoraTags.Lora("sd15_kohya", 0.6, 0.6), new LoraTags.Lora("sd15_locon", 0.8, 0.8)), p.loras());
        assertEquals("frogs on stilts ", LoraTags.parse("frogs on stilts <lora:sd15_locon:-0.5>").text());
        assertEquals(-0.5, LoraTags.parse("frogs <lora:x:-0.5>").loras().get(0).unet());
    }

    @Test
    void weightsDefaultToOneAndMayDifferPerPart() {
        assertEquals(new LoraTags.Lora("My Style v2", 1, 1), LoraTags.parse("<lora:My Style v2>").loras().get(0));
        assertEquals(new LoraTags.Lora("a", 0.3, 0.9), LoraTags.parse("x<lora:a:0.3:0.9>y").loras().get(0));
        assertEquals(new LoraTags.Lora("a", 0.5, 0.2), LoraTags.parse("<lora:a:0.5:unet=0.2>").loras().get(0));
        assertEquals(new LoraTags.Lora("a", 0.7, 1.0), LoraTags.parse("<lora:a:unet=1:te=0.7>").loras().get(0));
        assertEquals(new LoraTags.Lora("b", 2, 2), LoraTags.parse("<lyco:b:2>").loras().get(0));
        assertEquals("no tags (here) <3 or <a b>", LoraTags.parse("no tags (here) <3 or <a b>").text());
        LoraTags.Parsed discord = LoraTags.parse("at <t:0:R> <a:wave:123> <lora:x:1>");
        assertEquals("at <t:0:R> <a:wave:123> ", discord.text(), "Discord markup is not an extra network: it stays");
        assertEquals(List.of(new LoraTags.Lora("x", 1, 1)), discord.loras());
    }

    @Test
    void badTagsAreRefusedWithTheTag() {
        assertEquals("tag <lora:a:x> weight \"x\" is not a number".replace(" weight", ": weight"),
                assertThrows(IllegalArgumentException.class, () -> LoraTags.parse("<lora:a:x>")).getMessage());
        assertEquals("unsupported tag <hypernet:h:1>: only <lora:NAME:WEIGHT> is supported",
                assertThrows(IllegalArgumentException.class, () -> LoraTags.parse("a <hypernet:h:1>")).getMessage());
        assertThrows(IllegalArgumentException.class, () -> LoraTags.parse("<lora:a:25>"));
        assertThrows(IllegalArgumentException.class, () -> LoraTags.parse("<lora:a:NaN>"));
        assertThrows(IllegalArgumentException.class, () -> LoraTags.parse("<lora::1>"));
    }

    @Test
    void theSetOfAJobMergesPromptAndNegativeCaseInsensitively() {
        Map<String, LoraTags.Lora> set = LoraTags.set("<lora:Style:0.5> a <lora:b:1>", "c <lora:style:0.25> <lora:z:0>");
        assertEquals(List.of("b", "style"), List.copyOf(set.keySet()));
        assertEquals(0.75, set.get("style").te());
        assertEquals(set, LoraTags.set("<lora:b:1><lora:STYLE:0.75>", ""));
    }
}
