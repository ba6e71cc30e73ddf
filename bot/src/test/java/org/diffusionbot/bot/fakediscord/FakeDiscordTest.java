package org.diffusionbot.bot.fakediscord;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.EnumSet;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import javax.imageio.ImageIO;
import net.dv8tion.jda.api.JDA;
import net.dv8tion.jda.api.JDABuilder;
import net.dv8tion.jda.api.Permission;
import net.dv8tion.jda.api.components.actionrow.ActionRow;
import net.dv8tion.jda.api.components.buttons.Button;
import net.dv8tion.jda.api.entities.Guild;
import net.dv8tion.jda.api.entities.Message;
import net.dv8tion.jda.api.events.interaction.command.CommandAutoCompleteInteractionEvent;
import net.dv8tion.jda.api.events.interaction.command.SlashCommandInteractionEvent;
import net.dv8tion.jda.api.events.interaction.component.ButtonInteractionEvent;
import net.dv8tion.jda.api.exceptions.ErrorResponseException;
import net.dv8tion.jda.api.exceptions.InvalidTokenException;
import net.dv8tion.jda.api.hooks.ListenerAdapter;
import net.dv8tion.jda.api.interactions.InteractionHook;
import net.dv8tion.jda.api.interactions.commands.Command;
import net.dv8tion.jda.api.interactions.commands.OptionType;
import net.dv8tion.jda.api.interactions.commands.build.Commands;
import net.dv8tion.jda.api.interactions.commands.build.OptionData;
import net.dv8tion.jda.api.requests.ErrorResponse;
import net.dv8tion.jda.api.requests.GatewayIntent;
import net.dv8tion.jda.api.utils.Compression;
import net.dv8tion.jda.api.utils.FileUpload;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The fake Discord against the real JDA client. */
@Timeout(60)
class FakeDiscordTest {
    private static final Duration WAIT = Duration.ofSeconds(10);
    private static final byte[] PNG = png();

    private FakeDiscord discord;
    private JDA jda;

    /** What the test listener saw, handed to the test thread. */
    private final BlockingQueue<SlashCommandInteractionEvent> slashEvents = new LinkedBlockingQueue<>();
    private final BlockingQueue<ButtonInteractionEvent> buttonEvents = new LinkedBlockingQueue<>();

    /** Defers every slash command (ephemeral when the command has ephemeral:true), like the bot will. */
    private final ListenerAdapter listener = new ListenerAdapter() {
        @Override
        public void onSlashCommandInteraction(SlashCommandInteractionEvent event) {
            boolean ephemeral = event.getOption("ephemeral") != null && event.getOption("ephemeral").getAsBoolean();
            event.deferReply(ephemeral).queue();
            slashEvents.add(event);
        }

        @Override
        public void onButtonInteraction(ButtonInteractionEvent event) {
            event.deferEdit().queue();
            buttonEvents.add(event);
        }

        @Override
        public void onCommandAutoCompleteInteraction(CommandAutoCompleteInteractionEvent event) {
            String typed = event.getFocusedOption().getValue();
            event.replyChoiceStrings(List.of("sd15", "sdxl", "sd15-inpaint").stream().filter(m -> m.startsWith(typed))
                    .toList()).queue();
        }
    };

    @AfterEach
    void tearDown() throws InterruptedException {
        if (jda != null) {
            jda.shutdownNow();
            assertTrue(jda.awaitShutdown(Duration.ofSeconds(10)), "JDA did not shut down");
        }
        if (discord != null) {
            discord.close();
        }
    }

    private JDA connect(Compression compression) throws InterruptedException {
        jda = discord.configure(JDABuilder.createLight(discord.token(), EnumSet.of(GatewayIntent.GUILD_MEMBERS)))
                .setCompression(compression)
                .addEventListeners(listener)
                .build();
        return jda.awaitReady();
    }

    @Test
    void slashCommandDeferEditWithAttachmentAndButtonsThenExpiredTokenFallsBackToChannel() throws Exception {
        discord = FakeDiscord.start();
        FakeUser alice = discord.createUser("alice", false);
        FakeUser admin = discord.createUser("admin", true);
        long started = System.nanoTime();
        connect(Compression.NONE);
        long startMillis = (System.nanoTime() - started) / 1_000_000;
        assertTrue(startMillis < 5_000, "JDA took " + startMillis + " ms to get ready");

        // gateway: IDENTIFY carried the token and intents; the guild arrived with its channel, roles and members
        IdentifyInfo identify = discord.awaitIdentify(WAIT);
        assertEquals(discord.token(), identify.token());
        assertTrue(identify.hasIntent(GatewayIntent.GUILD_MEMBERS.getRawValue()));
        assertTrue(identify.gatewayQuery().contains("encoding=json"), identify.gatewayQuery());
        assertFalse(identify.gatewayQuery().contains("compress"), identify.gatewayQuery());
        Guild guild = jda.getGuildById(discord.guild().id());
        assertNotNull(guild, "guild visible to JDA");
        assertEquals("Fake Guild", guild.getName());
        assertNotNull(guild.getTextChannelById(discord.channel().id()));
        assertEquals(discord.botUser().idLong(), jda.getSelfUser().getIdLong());
        assertEquals(discord.applicationId(), jda.getSelfUser().getApplicationId());
        assertTrue(guild.getSelfMember().hasPermission(guild.getTextChannelById(discord.channel().id()),
                Permission.MESSAGE_SEND, Permission.MESSAGE_ATTACH_FILES, Permission.MESSAGE_EMBED_LINKS));

        // command registration, global and guild
        List<Command> registered = jda.updateCommands().addCommands(Commands.slash("imagine", "Generate an image")
                .addOption(OptionType.STRING, "prompt", "What to draw", true)
                .addOptions(new OptionData(OptionType.INTEGER, "steps", "Sampling steps").setRequiredRange(1, 150))
                .addOption(OptionType.NUMBER, "cfg", "Guidance scale")
                .addOption(OptionType.BOOLEAN, "ephemeral", "Only you see it")
                .addOption(OptionType.STRING, "model", "Model", false, true))
                .submit().get(10, TimeUnit.SECONDS);
        assertEquals(1, registered.size());
        RegisteredCommand imagine = discord.awaitCommand("imagine", WAIT);
        assertEquals(registered.get(0).getId(), imagine.id());
        assertEquals(null, imagine.guildId());
        assertEquals(4, imagine.option("steps").path("type").asInt());
        assertEquals(150, imagine.option("steps").path("max_value").asInt());
        assertTrue(imagine.option("prompt").path("required").asBoolean());
        guild.updateCommands().addCommands(Commands.slash("settings", "Server settings")
                .addSubcommands(new net.dv8tion.jda.api.interactions.commands.build.SubcommandData("limit",
                        "Daily image limit").addOption(OptionType.INTEGER, "images", "Images per day", true)))
                .submit().get(10, TimeUnit.SECONDS);
        assertEquals(discord.guild().id(), discord.awaitCommand("settings", WAIT).guildId());

        // a slash command: the listener defers, the test thread edits the original with text, a PNG and buttons
        InteractionHandle i = discord.slashCommand("imagine", alice, Opt.string("prompt", "a red fox"),
                Opt.integer("steps", 20), Opt.number("cfg", 7.5));
        SlashCommandInteractionEvent event = slashEvents.poll(10, TimeUnit.SECONDS);
        assertNotNull(event, "JDA delivered the slash command");
        assertEquals("imagine", event.getName());
        assertEquals("a red fox", event.getOption("prompt").getAsString());
        assertEquals(20, event.getOption("steps").getAsInt());
        assertEquals(7.5, event.getOption("cfg").getAsDouble());
        assertEquals(alice.idLong(), event.getUser().getIdLong());
        assertFalse(event.getMember().hasPermission(Permission.MANAGE_SERVER));
        assertEquals(discord.channel().idLong(), event.getChannel().getIdLong());

        RecordedCallback deferred = i.awaitCallback(WAIT);
        assertEquals(RecordedCallback.DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE, deferred.type());
        assertFalse(deferred.isEphemeral());
        assertTrue(deferred.latency().compareTo(Duration.ofSeconds(3)) < 0, "defer latency " + deferred.latency());
        assertTrue((i.original().flags() & RecordedMessage.FLAG_LOADING) != 0, "deferred message is loading");

        InteractionHook hook = event.getHook();
        Message edited = hook.editOriginal("Done: a red fox")
                .setFiles(FileUpload.fromData(PNG, "fox.png"))
                .setComponents(ActionRow.of(Button.primary("upscale:1", "Upscale"), Button.secondary("reroll", "Reroll")))
                .submit().get(10, TimeUnit.SECONDS);
        assertEquals("fox.png", edited.getAttachments().get(0).getFileName());
        assertEquals(PNG.length, edited.getAttachments().get(0).getSize());
        assertEquals(2, edited.getAttachments().get(0).getWidth());

        RecordedMessage edit = i.awaitOriginalEdit(m -> !m.attachments().isEmpty(), WAIT);
        assertEquals("Done: a red fox", edit.content());
        assertEquals(1, edit.attachments().size());
        assertEquals("fox.png", edit.attachments().get(0).filename());
        assertEquals("image/png", edit.attachments().get(0).contentType());
        assertArrayEquals(PNG, edit.attachments().get(0).bytes());
        assertEquals(List.of("upscale:1", "reroll"), edit.customIds());
        assertEquals(List.of("Upscale", "Reroll"), edit.buttonLabels());
        assertEquals(0, edit.flags() & RecordedMessage.FLAG_LOADING, "loading flag cleared by the edit");
        assertEquals(edit.id(), edited.getId());

        // a second edit keeps the attachment (no files, no attachments field) and is recorded in order
        hook.editOriginal("Done: a red fox (seed 42)").submit().get(10, TimeUnit.SECONDS);
        RecordedMessage second = i.awaitOriginalEdit(m -> m.content().endsWith("(seed 42)"), WAIT);
        assertArrayEquals(PNG, second.attachments().get(0).bytes());
        assertEquals(2, i.originalEdits().size());

        // a button click on the result
        InteractionHandle click = discord.buttonClick(edit.id(), "reroll", alice);
        ButtonInteractionEvent buttonEvent = buttonEvents.poll(10, TimeUnit.SECONDS);
        assertNotNull(buttonEvent);
        assertEquals("reroll", buttonEvent.getComponentId());
        assertEquals(edit.id(), buttonEvent.getMessage().getId());
        assertEquals(RecordedCallback.DEFERRED_UPDATE_MESSAGE, click.awaitCallback(WAIT).type());
        buttonEvent.getHook().editOriginalComponents(ActionRow.of(Button.secondary("reroll", "Reroll").asDisabled()))
                .submit().get(10, TimeUnit.SECONDS);
        RecordedMessage disabled = click.awaitOriginalEdit(m -> m.components().toString().contains("\"disabled\":true"),
                WAIT);
        assertEquals(edit.id(), disabled.id());
        assertThrows(IllegalArgumentException.class, () -> discord.buttonClick(edit.id(), "reroll", alice),
                "disabled buttons cannot be clicked");

        // the token expires: the next edit fails like Discord's, and the bot can post to the channel instead
        i.expireToken();
        ExecutionException failure = assertThrows(ExecutionException.class,
                () -> hook.editOriginal("too late").submit().get(10, TimeUnit.SECONDS));
        ErrorResponseException error = assertInstanceOf(ErrorResponseException.class, failure.getCause());
        assertEquals(ErrorResponse.INVALID_WEBHOOK_TOKEN, error.getErrorResponse());
        assertEquals(401, error.getResponse().code);
        jda.getTextChannelById(discord.channel().id()).sendMessage(alice.mention() + " your image: a red fox")
                .addFiles(FileUpload.fromData(PNG, "fox.png")).submit().get(10, TimeUnit.SECONDS);
        RecordedMessage fallback = discord.awaitChannelMessage(discord.channel().id(),
                m -> m.content().contains("a red fox"), WAIT);
        assertArrayEquals(PNG, fallback.attachment("fox.png").orElseThrow().bytes());

        // an admin's interaction carries Manage Server
        InteractionHandle settings = discord.slashCommand("settings", admin,
                Opt.sub("limit", Opt.integer("images", 50)));
        SlashCommandInteractionEvent adminEvent = slashEvents.poll(10, TimeUnit.SECONDS);
        assertNotNull(adminEvent);
        assertEquals("limit", adminEvent.getSubcommandName());
        assertEquals(50, adminEvent.getOption("images").getAsInt());
        assertTrue(adminEvent.getMember().hasPermission(Permission.MANAGE_SERVER));
        assertTrue(discord.hasManageServer(admin));
        settings.awaitCallback(WAIT);

        // autocomplete
        InteractionHandle ac = discord.autocomplete("imagine", alice, Opt.string("prompt", "x"),
                Opt.focused("model", Opt.STRING, "sd1"));
        RecordedCallback choices = ac.awaitCallback(WAIT);
        assertEquals(RecordedCallback.APPLICATION_COMMAND_AUTOCOMPLETE_RESULT, choices.type());
        assertEquals(List.of("sd15", "sd15-inpaint"), choices.data().path("choices").findValues("value").stream()
                .map(v -> v.asText()).toList());

        // the fake rejects what Discord's client would never send
        assertThrows(IllegalArgumentException.class, () -> discord.slashCommand("imagine", alice,
                Opt.string("prompt", "x"), Opt.integer("steps", 500)));
        assertThrows(IllegalArgumentException.class, () -> discord.slashCommand("imagine", alice));
        assertThrows(IllegalStateException.class, () -> discord.slashCommand("nope", alice));

        assertEquals(List.of(), discord.unknownRoutes());
        assertEquals(List.of(), discord.gatewayProblems());
    }

    @Test
    void ephemeralDeferFollowupsAndZlibCompressedGateway() throws Exception {
        discord = FakeDiscord.start();
        FakeUser bob = discord.createUser("bob", false);
        connect(Compression.ZLIB);
        assertTrue(discord.awaitIdentify(WAIT).gatewayQuery().contains("compress=zlib-stream"));
        jda.updateCommands().addCommands(Commands.slash("imagine", "Generate an image")
                .addOption(OptionType.STRING, "prompt", "What to draw", true)
                .addOption(OptionType.BOOLEAN, "ephemeral", "Only you see it")).submit().get(10, TimeUnit.SECONDS);

        InteractionHandle i = discord.slashCommand("imagine", bob, Opt.string("prompt", "a boat"),
                Opt.bool("ephemeral", true));
        SlashCommandInteractionEvent event = slashEvents.poll(10, TimeUnit.SECONDS);
        assertNotNull(event);
        RecordedCallback cb = i.awaitCallback(WAIT);
        assertEquals(5, cb.type());
        assertTrue(cb.isEphemeral());
        assertEquals(64, cb.flags());

        event.getHook().sendMessage("queued at position 2").setEphemeral(true).submit().get(10, TimeUnit.SECONDS);
        RecordedMessage followup = i.awaitFollowup(m -> m.content().startsWith("queued"), WAIT);
        assertTrue(followup.isEphemeral());
        event.getHook().deleteOriginal().submit().get(10, TimeUnit.SECONDS);
        assertTrue(discord.originalDeleted(i.token()));

        // JDA's rate limiter copes with a 429 (Retry-After, bucket headers) and retries
        discord.failNext("POST", "channels/\\d+/messages", 429, 0, "You are being rate limited.", 1);
        Message m = jda.getTextChannelById(discord.channel().id()).sendMessage("after a 429")
                .submit().get(10, TimeUnit.SECONDS);
        assertEquals("after a 429", m.getContentRaw());
        assertEquals(1, discord.channelMessages(discord.channel().id()).size());
        assertTrue(discord.requests().stream().anyMatch(r -> r.status() == 429));

        // members added or promoted while connected (GUILD_MEMBER_ADD / GUILD_MEMBER_UPDATE, REST member lookup)
        FakeUser dave = discord.createUser("dave", false);
        assertEquals("dave", jda.getGuildById(discord.guild().id()).retrieveMemberById(dave.id())
                .submit().get(10, TimeUnit.SECONDS).getUser().getName());
        discord.setManageServer(bob, true);
        discord.slashCommand("imagine", bob, Opt.string("prompt", "admin now"));
        SlashCommandInteractionEvent promoted = slashEvents.poll(10, TimeUnit.SECONDS);
        assertNotNull(promoted);
        assertTrue(promoted.getMember().hasPermission(Permission.MANAGE_SERVER));

        assertEquals(List.of(), discord.unknownRoutes());
        assertEquals(List.of(), discord.gatewayProblems());
    }

    @Test
    void resumeAfterServerDisconnectDmCommandAndLateCallback() throws Exception {
        discord = FakeDiscord.start();
        FakeUser carol = discord.createUser("carol", false);
        connect(Compression.NONE);
        jda.updateCommands().addCommands(Commands.slash("imagine", "Generate an image")
                .addOption(OptionType.STRING, "prompt", "What to draw", true)).submit().get(10, TimeUnit.SECONDS);

        // Discord drops the connection: JDA resumes the session on resume_gateway_url, events keep flowing
        discord.disconnectGateway(4000, "fake: unknown error");
        discord.await("the session to be resumed", WAIT, () -> discord.readySessions() >= 2 ? true : null);
        assertEquals(1, discord.identifies().size(), "resumed, not re-identified");
        jda.awaitStatus(JDA.Status.CONNECTED);

        // a slash command in the bot's DMs
        InteractionHandle dm = discord.slashCommand("imagine", List.of(Opt.string("prompt", "a dm")), carol, null,
                null);
        SlashCommandInteractionEvent event = slashEvents.poll(10, TimeUnit.SECONDS);
        assertNotNull(event);
        assertFalse(event.isFromGuild());
        assertEquals(discord.dmChannel(carol).idLong(), event.getChannel().getIdLong());
        assertEquals(5, dm.awaitCallback(WAIT).type());

        // an acknowledgement later than Discord's 3 s window is refused with 10062 Unknown interaction
        discord.setCallbackDeadline(Duration.ZERO);
        InteractionHandle late = discord.slashCommand("imagine", carol, Opt.string("prompt", "too slow"));
        assertNotNull(slashEvents.poll(10, TimeUnit.SECONDS));
        discord.await("the late callback", WAIT, () -> discord.lateCallbacks(late.token()).isEmpty() ? null : true);
        assertEquals(List.of(), late.callbacks());

        assertEquals(List.of(), discord.unknownRoutes());
        assertEquals(List.of(), discord.gatewayProblems());
    }

    @Test
    void wrongTokenIsRejectedLikeDiscord() {
        discord = FakeDiscord.start();
        assertThrows(InvalidTokenException.class, () -> discord.configure(JDABuilder.createLight("not-the-token"))
                .build());
    }

    private static byte[] png() {
        BufferedImage image = new BufferedImage(2, 2, BufferedImage.TYPE_INT_RGB);
        image.setRGB(0, 0, 0xFF0000);
        image.setRGB(1, 1, 0x00FF00);
        try (ByteArrayOutputStream out = new ByteArrayOutputStream()) {
            ImageIO.write(image, "png", out);
            return out.toByteArray();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
