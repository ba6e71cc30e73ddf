/**
 * A faithful local fake of Discord (REST API v10 + gateway) for tests that run the real JDA client.
 *
 * <h2>Use</h2>
 * <pre>{@code
 * try (FakeDiscord discord = FakeDiscord.start()) {
 *     FakeUser alice = discord.createUser("alice", false);          // true: Admin role (Manage Server)
 *     JDA jda = discord.configure(JDABuilder.createLight(discord.token()))
 *             .addEventListeners(bot).build().awaitReady();
 *     // ... bot registers /imagine ...
 *     InteractionHandle i = discord.slashCommand("imagine", alice, Opt.string("prompt", "a cat"));
 *     RecordedCallback cb = i.awaitCallback(Duration.ofSeconds(5));  // type 5, cb.latency() = defer latency
 *     RecordedMessage done = i.awaitOriginalEdit(m -> !m.attachments().isEmpty(), Duration.ofSeconds(10));
 *     byte[] png = done.attachments().get(0).bytes();
 *     discord.buttonClick(done.id(), "reroll", alice);
 *     i.expireToken();                                               // later webhook calls: 401 / 50027
 *     discord.awaitChannelMessage(discord.channel().id(), m -> ..., Duration.ofSeconds(10));
 *     assertEquals(List.of(), discord.unknownRoutes());
 *     jda.shutdownNow(); jda.awaitShutdown(Duration.ofSeconds(10));
 * }
 * }</pre>
 *
 * <h2>Routes served (below {@code /api/v10/})</h2>
 * {@code GET gateway}, {@code GET gateway/bot}, {@code GET users/@me}, {@code GET users/{id}},
 * {@code POST users/@me/channels}, {@code GET oauth2/applications/@me}; application commands global and per guild
 * ({@code GET/PUT/POST applications/{app}[/guilds/{g}]/commands}, {@code GET/PATCH/DELETE .../commands/{id}});
 * {@code POST interactions/{id}/{token}/callback} (types 4-9, JSON or multipart, {@code with_response});
 * {@code POST webhooks/{app}/{token}} (followups), {@code GET/PATCH/DELETE webhooks/{app}/{token}/messages/{@original|id}}
 * (JSON or multipart with {@code payload_json} + {@code files[n]}); {@code GET channels/{id}},
 * {@code POST channels/{id}/typing}, {@code GET/POST channels/{id}/messages}, {@code GET/PATCH/DELETE
 * channels/{id}/messages/{mid}}, {@code PUT/DELETE .../reactions/{emoji}/@me}; {@code GET guilds/{id}},
 * {@code GET guilds/{id}/members/{user}}. Attachments are downloadable at their {@code url}. Anything else is
 * recorded in {@link org.diffusionbot.bot.fakediscord.FakeDiscord#unknownRoutes()} and answered like Discord:
 * 404 {@code {"message":"404: Not Found","code":0}} (405 for a known path with another method).
 *
 * <h2>Fidelity notes</h2>
 * <ul>
 * <li>JDABuilder never calls {@code /gateway/bot}: it connects to {@code SessionController#getGateway()}, which is
 * hard-wired to wss://gateway.discord.gg, so the builder needs {@link
 * org.diffusionbot.bot.fakediscord.FakeDiscord#sessionController()} as well as the REST base URL.</li>
 * <li>Ids are real snowflakes with the current time: JDA computes an interaction hook's 15-minute expiry from the
 * interaction id's timestamp.</li>
 * <li>Every response carries X-RateLimit-* headers and {@code Via} (JDA treats a 429 without {@code Via} as a
 * Cloudflare ban); {@link org.diffusionbot.bot.fakediscord.FakeDiscord#failNext} can inject 429s or any error.</li>
 * <li>Callbacks later than 3 s (configurable), or a second acknowledgement, fail like Discord (10062 / 40060).
 * Options are checked against the registered command (unknown names, wrong types, missing required options,
 * choices, min/max), and only existing enabled buttons can be clicked.</li>
 * <li>The gateway speaks JSON, with or without {@code compress=zlib-stream}; supports heartbeats, RESUME,
 * REQUEST_GUILD_MEMBERS; dispatches READY, GUILD_CREATE, INTERACTION_CREATE, GUILD_MEMBER_ADD/UPDATE,
 * CHANNEL_CREATE. The bot's own messages are not echoed as MESSAGE_CREATE.</li>
 * </ul>
 */
package org.diffusionbot.bot.fakediscord;
