package org.diffusionbot.bot.discord;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class ButtonIdsTest {
    static final UUID ID = UUID.fromString("3f2b8c1e-0d4a-4b6e-9a57-1c2d3e4f5a6b");

    @Test
    void roundTripsEveryAction() {
        assertEquals(new ButtonIds.Parsed("reroll", ID, -1), ButtonIds.parse(ButtonIds.of(ButtonIds.REROLL, ID)).orElseThrow());
        assertEquals(new ButtonIds.Parsed("var", ID, 3), ButtonIds.parse(ButtonIds.of(ButtonIds.VARIATION, ID, 3)).orElseThrow());
        assertEquals(new ButtonIds.Parsed("up", ID, 0), ButtonIds.parse(ButtonIds.of(ButtonIds.UPSCALE, ID, 0)).orElseThrow());
        assertEquals(ID, ButtonIds.jobOf(ButtonIds.CANCEL, ButtonIds.cancel(ID)).orElseThrow());
        assertTrue(ButtonIds.of(ButtonIds.VARIATION, ID, 3).length() <= 100);
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "reroll", "reroll:", "reroll:not-a-uuid", "var:3f2b8c1e-0d4a-4b6e-9a57-1c2d3e4f5a6b",
            "var:3f2b8c1e-0d4a-4b6e-9a57-1c2d3e4f5a6b:4", "var:3f2b8c1e-0d4a-4b6e-9a57-1c2d3e4f5a6b:-1",
            "up:3f2b8c1e-0d4a-4b6e-9a57-1c2d3e4f5a6b:1:2", "reroll:3f2b8c1e-0d4a-4b6e-9a57-1c2d3e4f5a6b:1",
            "nuke:3f2b8c1e-0d4a-4b6e-9a57-1c2d3e4f5a6b", "delete:1-1-1-1-1"})
    void rejectsAnythingElse(String id) {
        assertTrue(ButtonIds.parse(id).isEmpty(), id);
    }
}
