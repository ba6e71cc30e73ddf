package org.diffusionbot.bot.fakediscord;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Predicate;
import java.util.function.Supplier;
import java.util.regex.Pattern;
import net.dv8tion.jda.api.JDABuilder;
import net.dv8tion.jda.api.requests.RestConfig;
import net.dv8tion.jda.api.utils.Compression;
import net.dv8tion.jda.api.utils.SessionControllerAdapter;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A local fake of Discord for tests: the REST API (JDK {@link HttpServer}) and the gateway websocket
 * ({@link FakeGateway}) on ephemeral 127.0.0.1 ports, one guild with a text channel, roles and members, and a
 * thread-safe record of everything the bot did. The real JDA client connects to it via {@link #configure(JDABuilder)}.
 *
 * <pre>{@code
 * try (FakeDiscord discord = FakeDiscord.start()) {
 *     FakeUser alice = discord.createUser("alice", false);
 *     JDA jda = discord.configure(JDABuilder.createLight(discord.token())).addEventListeners(bot).build().awaitReady();
 *     InteractionHandle i = discord.slashCommand("imagine", alice, Opt.string("prompt", "a cat"));
 *     assertEquals(5, i.awaitCallback(Duration.ofSeconds(5)).type());
 *     RecordedMessage done = i.awaitOriginalEdit(m -> !m.attachments().isEmpty(), Duration.ofSeconds(10));
 * }
 * }</pre>
 */
public final class FakeDiscord implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(FakeDiscord.class);

    public static final String DEFAULT_TOKEN = "fake-bot-token.for-tests.only";
    public static final long DISCORD_EPOCH_MS = 1420070400000L;

    // permission bits (https://discord.com/developers/docs/topics/permissions)
    public static final long PERM_ADMINISTRATOR = 1L << 3;
    public static final long PERM_MANAGE_GUILD = 1L << 5;
    public static final long PERM_ADD_REACTIONS = 1L << 6;
    public static final long PERM_VIEW_CHANNEL = 1L << 10;
    public static final long PERM_SEND_MESSAGES = 1L << 11;
    public static final long PERM_EMBED_LINKS = 1L << 14;
    public static final long PERM_ATTACH_FILES = 1L << 15;
    public static final long PERM_READ_MESSAGE_HISTORY = 1L << 16;
    public static final long PERM_USE_EXTERNAL_EMOJIS = 1L << 18;
    public static final long PERM_USE_APPLICATION_COMMANDS = 1L << 31;
    public static final long ALL_PERMISSIONS = (1L << 51) - 1;
    public static final long EVERYONE_PERMISSIONS = 1L | PERM_ADD_REACTIONS | PERM_VIEW_CHANNEL | PERM_SEND_MESSAGES
            | PERM_EMBED_LINKS | PERM_ATTACH_FILES | PERM_READ_MESSAGE_HISTORY | PERM_USE_EXTERNAL_EMOJIS
            | (1L << 20) | (1L << 21) | (1L << 26) | PERM_USE_APPLICATION_COMMANDS | (1L << 35) | (1L << 37)
            | (1L << 38);
    public static final long BOT_ROLE_PERMISSIONS = PERM_VIEW_CHANNEL | PERM_SEND_MESSAGES | PERM_EMBED_LINKS
            | PERM_ATTACH_FILES | PERM_READ_MESSAGE_HISTORY | PERM_ADD_REACTIONS | PERM_USE_EXTERNAL_EMOJIS;

    /** Gateway intent bits the fake looks at. */
    public static final long INTENT_GUILD_MEMBERS = 1L << 1;

    /** How a webhook call with an expired interaction token fails. */
    public enum TokenFailure {
        /** What Discord answers once the 15 minutes are over: HTTP 401, code 50027 "Invalid Webhook Token". */
        INVALID_WEBHOOK_TOKEN(401, 50027, "Invalid Webhook Token"),
        /** HTTP 404, code 10015 "Unknown Webhook" (seen for tokens Discord dropped early). */
        UNKNOWN_WEBHOOK(404, 10015, "Unknown Webhook");

        final int status;
        final int code;
        final String message;

        TokenFailure(int status, int code, String message) {
            this.status = status;
            this.code = code;
            this.message = message;
        }
    }

    private static final String API_PREFIX = "/api/v10/";
    private static final DateTimeFormatter TIMESTAMP =
            DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss.SSSSSSxxx", Locale.ROOT);

    final Object lock = new Object();
    private final AtomicLong idSequence = new AtomicLong();
    private final AtomicInteger tokenSequence = new AtomicInteger();
    private final String token;
    private final HttpServer http;
    private final ExecutorService httpExecutor;
    private final FakeGateway gateway;
    private final List<RouteDef> routes = new ArrayList<>();

    // ---- world state (guarded by lock)
    private final FakeUser botUser;
    private final String applicationId;
    private final FakeUser owner;
    private final Map<String, FakeUser> users = new LinkedHashMap<>();
    private final Map<String, GuildState> guilds = new LinkedHashMap<>();
    private final Map<String, FakeChannel> channels = new LinkedHashMap<>();
    private final Map<String, String> dmChannelByUser = new HashMap<>();
    private final Map<String, StoredMessage> messages = new LinkedHashMap<>();
    private final Map<String, RecordedAttachment> attachmentsById = new HashMap<>();
    private final Map<String, LinkedHashMap<String, ObjectNode>> commands = new LinkedHashMap<>(); // scope -> key -> json
    private final Map<String, InteractionState> interactionsByToken = new HashMap<>();
    private final Map<String, InteractionState> interactionsById = new HashMap<>();
    private final Map<String, TokenFailure> expiredTokens = new HashMap<>();

    // ---- recordings (guarded by lock)
    private final List<RecordedMessage> messageLog = new ArrayList<>();
    private final List<UnknownRoute> unknownRoutes = new ArrayList<>();
    private final List<RecordedRequest> requests = new ArrayList<>();
    private final List<IdentifyInfo> identifies = new ArrayList<>();
    private final List<String> gatewayProblems = new ArrayList<>();
    private final List<InjectedFailure> injectedFailures = new ArrayList<>();
    private int readySessions;

    private volatile Duration callbackDeadline = Duration.ofSeconds(3);
    private volatile long maxUploadBytes = 10L * 1024 * 1024;

    private FakeDiscord(String token) throws IOException {
        this.token = token;
        this.botUser = new FakeUser(nextId(), "DiffusionBot", null, true);
        this.applicationId = botUser.id(); // like most bots: application id == bot user id
        this.owner = new FakeUser(nextId(), "guild-owner", "Guild Owner", false);
        users.put(botUser.id(), botUser);
        users.put(owner.id(), owner);
        GuildState g = new GuildState(nextId(), "Fake Guild", owner.id(), nextId(), nextId());
        guilds.put(g.id, g);
        g.members.put(botUser.id(), new ArrayList<>(List.of(g.botRoleId)));
        g.members.put(owner.id(), new ArrayList<>());
        g.joinedAt.put(botUser.id(), now());
        g.joinedAt.put(owner.id(), now());
        addChannel(g, "general", false);

        this.gateway = new FakeGateway(this);
        // like Discord's edge, answer without Nagle's delay (the JDK server otherwise adds ~40 ms per response)
        if (System.getProperty("sun.net.httpserver.nodelay") == null) {
            System.setProperty("sun.net.httpserver.nodelay", "true");
        }
        this.http = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 64);
        this.httpExecutor = Executors.newCachedThreadPool(r -> {
            Thread t = new Thread(r, "fake-discord-rest");
            t.setDaemon(true);
            return t;
        });
        http.setExecutor(httpExecutor);
        http.createContext("/", this::handle);
        defineRoutes();
        http.start();
        LOG.info("fake Discord up: REST {} gateway {}", apiBaseUrl(), gatewayUrl());
    }

    /** Starts a fake with {@link #DEFAULT_TOKEN}, a guild "Fake Guild" with #general, its owner and the bot. */
    public static FakeDiscord start() {
        return start(DEFAULT_TOKEN);
    }

    public static FakeDiscord start(String botToken) {
        try {
            return new FakeDiscord(botToken);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    // =====================================================================================================
    // configuration & world
    // =====================================================================================================

    /** e.g. {@code http://127.0.0.1:PORT/api/v10/}. */
    public String apiBaseUrl() {
        return "http://127.0.0.1:" + http.getAddress().getPort() + API_PREFIX;
    }

    /** e.g. {@code ws://127.0.0.1:PORT}. */
    public String gatewayUrl() {
        return gateway.url();
    }

    public String token() {
        return token;
    }

    /**
     * Points a JDA builder at this fake: REST base URL, a session controller whose gateway is the fake's (JDABuilder
     * never asks {@code /gateway/bot}; it uses {@code SessionController#getGateway()}, hard-wired to
     * wss://gateway.discord.gg), and no transport compression. (zlib-stream compression works too: call
     * {@code setCompression(Compression.ZLIB)} afterwards to test it.)
     */
    public JDABuilder configure(JDABuilder builder) {
        return builder.setRestConfig(restConfig())
                .setSessionController(sessionController())
                .setCompression(Compression.NONE)
                .setEnableShutdownHook(false);
    }

    /** {@code new RestConfig().setBaseUrl(apiBaseUrl())}, for code that builds its own JDA. */
    public RestConfig restConfig() {
        return new RestConfig().setBaseUrl(apiBaseUrl());
    }

    /** A session controller whose {@code getGateway()} is this fake's websocket, for code that builds its own JDA. */
    public SessionControllerAdapter sessionController() {
        String gatewayUrl = gatewayUrl();
        return new SessionControllerAdapter() {
            @Override
            public String getGateway() {
                return gatewayUrl;
            }
        };
    }

    public FakeUser botUser() {
        return botUser;
    }

    public String applicationId() {
        return applicationId;
    }

    public FakeUser owner() {
        return owner;
    }

    /** The (only, default) guild. */
    public FakeGuild guild() {
        synchronized (lock) {
            return guilds.values().iterator().next().view();
        }
    }

    /** The guild's first text channel, #general. */
    public FakeChannel channel() {
        synchronized (lock) {
            return channels.get(guilds.values().iterator().next().channelIds.get(0));
        }
    }

    public FakeChannel channel(String channelId) {
        synchronized (lock) {
            return channels.get(channelId);
        }
    }

    /** Adds a text channel to the guild (sent as CHANNEL_CREATE if a gateway session is up). */
    public FakeChannel createTextChannel(String name) {
        return createTextChannel(name, false);
    }

    /**
     * Adds a text channel to the guild, age-restricted ({@code nsfw}: Discord's "Age-Restricted Channel" setting) or
     * not (sent as CHANNEL_CREATE if a gateway session is up).
     */
    public FakeChannel createTextChannel(String name, boolean nsfw) {
        FakeChannel c;
        synchronized (lock) {
            c = addChannel(guilds.values().iterator().next(), name, nsfw);
        }
        if (gateway.currentSession() != null) {
            gateway.dispatch("CHANNEL_CREATE", channelJson(c));
        }
        return c;
    }

    /**
     * Creates a user and makes them a member of the guild; with {@code manageServer} they get the "Admin" role (Manage
     * Server permission). Sent as GUILD_MEMBER_ADD when a session with the GUILD_MEMBERS intent is up.
     */
    public FakeUser createUser(String name, boolean manageServer) {
        FakeUser u;
        ObjectNode member;
        GuildState g;
        synchronized (lock) {
            u = new FakeUser(nextId(), name, null, false);
            users.put(u.id(), u);
            g = guilds.values().iterator().next();
            g.members.put(u.id(), manageServer ? new ArrayList<>(List.of(g.adminRoleId)) : new ArrayList<>());
            g.joinedAt.put(u.id(), now());
            member = memberJson(g, u.id(), false);
        }
        FakeGateway.Session s = gateway.currentSession();
        if (s != null && (s.intents & INTENT_GUILD_MEMBERS) != 0) {
            member.put("guild_id", g.id);
            gateway.dispatch("GUILD_MEMBER_ADD", member);
        }
        return u;
    }

    public FakeUser createUser(String name) {
        return createUser(name, false);
    }

    /** A user who is not a member of the guild (for DMs). */
    public FakeUser createNonMemberUser(String name) {
        synchronized (lock) {
            FakeUser u = new FakeUser(nextId(), name, null, false);
            users.put(u.id(), u);
            return u;
        }
    }

    /** Grants or revokes the Admin role (Manage Server); sent as GUILD_MEMBER_UPDATE when a session is up. */
    public void setManageServer(FakeUser user, boolean manageServer) {
        ObjectNode update;
        synchronized (lock) {
            GuildState g = guilds.values().iterator().next();
            List<String> roles = g.members.get(user.id());
            if (roles == null) {
                throw new IllegalArgumentException(user + " is not a member");
            }
            roles.remove(g.adminRoleId);
            if (manageServer) {
                roles.add(g.adminRoleId);
            }
            update = memberJson(g, user.id(), false);
            update.put("guild_id", g.id);
        }
        if (gateway.currentSession() != null) {
            gateway.dispatch("GUILD_MEMBER_UPDATE", update);
        }
    }

    /**
     * Adds a role without permissions to a member (the role is not announced in GUILD_CREATE; interactions list it in
     * {@code member.roles}), e.g. a bot-configured admin role.
     */
    public void grantRole(FakeUser user, String roleId) {
        synchronized (lock) {
            GuildState g = guilds.values().iterator().next();
            List<String> roles = g.members.get(user.id());
            if (roles == null) {
                throw new IllegalArgumentException(user + " is not a member");
            }
            if (!roles.contains(roleId)) {
                roles.add(roleId);
            }
        }
    }

    /** A fresh snowflake (e.g. for a role id). */
    public String newId() {
        return nextId();
    }

    public boolean hasManageServer(FakeUser user) {
        synchronized (lock) {
            GuildState g = guilds.values().iterator().next();
            return (permissions(g, user.id()) & PERM_MANAGE_GUILD) != 0;
        }
    }

    /** The DM channel between the bot and this user (created on first use). */
    public FakeChannel dmChannel(FakeUser user) {
        synchronized (lock) {
            String id = dmChannelByUser.computeIfAbsent(user.id(), k -> {
                FakeChannel c = new FakeChannel(nextId(), null, user.username(), 1, 0, false);
                channels.put(c.id(), c);
                return c.id();
            });
            return channels.get(id);
        }
    }

    /** How long after INTERACTION_CREATE a callback is accepted (Discord: 3 s); null accepts any delay. */
    public void setCallbackDeadline(Duration deadline) {
        this.callbackDeadline = deadline;
    }

    /** Upload limit per message (Discord's default for bots: 10 MiB); larger uploads get 413 / 40005. */
    public void setMaxUploadBytes(long bytes) {
        this.maxUploadBytes = bytes;
    }

    /**
     * Makes every later webhook call with this interaction token (edit/get/delete @original, followups) fail like
     * Discord does after the 15 minutes: HTTP 401 {@code {"code":50027,"message":"Invalid Webhook Token"}}, which JDA
     * maps to {@code ErrorResponse.INVALID_WEBHOOK_TOKEN}. Callbacks for it fail with 10062 Unknown interaction.
     */
    public void expireToken(String interactionToken) {
        expireToken(interactionToken, TokenFailure.INVALID_WEBHOOK_TOKEN);
    }

    public void expireToken(String interactionToken, TokenFailure failure) {
        synchronized (lock) {
            expiredTokens.put(interactionToken, failure);
        }
    }

    /**
     * Fails the next {@code times} requests whose method matches and whose path (below the API base, e.g.
     * {@code channels/123/messages}) matches {@code pathRegex} with the given status and Discord error. A 429 gets
     * Retry-After/X-RateLimit headers and a {@code retry_after} body like Discord's.
     */
    public void failNext(String method, String pathRegex, int status, int code, String message, int times) {
        synchronized (lock) {
            injectedFailures.add(new InjectedFailure(method.toUpperCase(Locale.ROOT), Pattern.compile(pathRegex), status,
                    code, message, new AtomicInteger(times)));
        }
    }

    /** Closes the gateway connection from Discord's side (JDA reconnects and RESUMEs). */
    public void disconnectGateway(int closeCode, String reason) {
        gateway.disconnect(closeCode, reason);
    }

    /** Sends any dispatch event on the current gateway session. */
    public void dispatch(String type, JsonNode data) {
        gateway.dispatch(type, data);
    }

    // =====================================================================================================
    // driving interactions
    // =====================================================================================================

    /** A slash command from {@code user} in the guild's #general. */
    public InteractionHandle slashCommand(String name, FakeUser user, Opt... options) {
        return slashCommand(name, List.of(options), user, guild(), channel());
    }

    /**
     * Sends INTERACTION_CREATE type 2 (APPLICATION_COMMAND) like Discord: {@code data.id} is the registered command's
     * id (guild command first, then global; unregistered commands throw, as Discord would never send them), options
     * are checked against the registered schema (names, types, required, choices, min/max). {@code guild} null means
     * the bot's DM channel with the user ({@code channel} ignored).
     */
    public InteractionHandle slashCommand(String name, List<Opt> options, FakeUser user, FakeGuild guild,
            FakeChannel channel) {
        return command(2, name, options, user, guild, channel);
    }

    /** Sends INTERACTION_CREATE type 4 (APPLICATION_COMMAND_AUTOCOMPLETE); one option should be {@link Opt#focused}. */
    public InteractionHandle autocomplete(String name, FakeUser user, Opt... options) {
        return command(4, name, List.of(options), user, guild(), channel());
    }

    /**
     * Sends INTERACTION_CREATE type 3 (MESSAGE_COMPONENT, component_type 2) for a click on the button with this
     * custom_id on a message the bot sent; throws if the message has no such enabled button.
     */
    public InteractionHandle buttonClick(String messageId, String customId, FakeUser user) {
        return component(messageId, customId, user, 2, List.of());
    }

    /** A string select (component_type 3) choice on a message the bot sent. */
    public InteractionHandle stringSelect(String messageId, String customId, FakeUser user, String... values) {
        return component(messageId, customId, user, 3, List.of(values));
    }

    private InteractionHandle command(int interactionType, String name, List<Opt> options, FakeUser user,
            FakeGuild guild, FakeChannel channel) {
        ObjectNode payload;
        InteractionState st;
        synchronized (lock) {
            GuildState g = guild == null ? null : guilds.get(guild.id());
            FakeChannel ch = guild == null ? dmChannel(user) : channel;
            if (g != null && !g.members.containsKey(user.id())) {
                throw new IllegalArgumentException(user + " is not a member of " + guild.name());
            }
            ObjectNode cmd = findCommand(name, g);
            if (cmd == null) {
                throw new IllegalStateException("no command /" + name + " is registered (registered: "
                        + registeredCommands().stream().map(RegisteredCommand::name).toList() + ")");
            }
            validateOptions(cmd.path("options"), options, "/" + name, interactionType == 4);
            ObjectNode data = Json.obj().put("id", cmd.get("id").asText()).put("name", name).put("type", 1);
            if (cmd.hasNonNull("guild_id")) {
                data.put("guild_id", cmd.get("guild_id").asText());
            }
            if (!options.isEmpty()) {
                ArrayNode arr = data.putArray("options");
                options.forEach(o -> arr.add(o.toJson()));
            }
            ObjectNode resolved = resolved(g, options);
            if (resolved != null) {
                data.set("resolved", resolved);
            }
            st = newInteraction(interactionType, name, user, g, ch);
            payload = interactionBase(st, g, ch, user);
            payload.set("data", data);
        }
        return send(st, payload);
    }

    private InteractionHandle component(String messageId, String customId, FakeUser user, int componentType,
            List<String> values) {
        ObjectNode payload;
        InteractionState st;
        synchronized (lock) {
            StoredMessage m = messages.get(messageId);
            if (m == null || m.deleted) {
                throw new IllegalArgumentException("no message " + messageId);
            }
            JsonNode component = findComponent(m.components, customId);
            if (component == null || component.path("type").asInt() != componentType) {
                throw new IllegalArgumentException("message " + messageId + " has no component type " + componentType
                        + " with custom_id " + customId + " (has " + m.snapshot(RecordedMessage.Kind.CURRENT, null, null).customIds() + ")");
            }
            if (component.path("disabled").asBoolean(false)) {
                throw new IllegalArgumentException("component " + customId + " is disabled");
            }
            if ((m.flags & RecordedMessage.FLAG_EPHEMERAL) != 0 && m.interactionUserId != null
                    && !m.interactionUserId.equals(user.id())) {
                throw new IllegalArgumentException("only " + m.interactionUserId + " can see ephemeral message "
                        + messageId);
            }
            FakeChannel ch = channels.get(m.channelId);
            GuildState g = ch.guildId() == null ? null : guilds.get(ch.guildId());
            st = newInteraction(3, customId, user, g, ch);
            st.componentMessageId = m.id;
            payload = interactionBase(st, g, ch, user);
            ObjectNode data = Json.obj().put("custom_id", customId).put("component_type", componentType);
            if (component.has("id")) {
                data.put("id", component.get("id").asInt());
            }
            if (componentType != 2) {
                ArrayNode arr = data.putArray("values");
                values.forEach(arr::add);
            }
            payload.set("data", data);
            payload.set("message", messageJson(m));
        }
        return send(st, payload);
    }

    private InteractionState newInteraction(int type, String name, FakeUser user, GuildState g, FakeChannel ch) {
        InteractionState st = new InteractionState(nextId(), "fake-interaction-token-" + tokenSequence.incrementAndGet()
                + "-" + UUID.randomUUID(), type, name, user, g == null ? null : g.id, ch.id());
        interactionsById.put(st.id, st);
        interactionsByToken.put(st.token, st);
        return st;
    }

    private ObjectNode interactionBase(InteractionState st, GuildState g, FakeChannel ch, FakeUser user) {
        ObjectNode p = Json.obj();
        p.put("id", st.id).put("application_id", applicationId).put("type", st.type).put("token", st.token)
                .put("version", 1).put("locale", "en-US").put("channel_id", ch.id());
        p.set("channel", channelJson(ch));
        p.putArray("entitlements");
        p.putArray("entitlement_sku_ids");
        p.put("attachment_size_limit", maxUploadBytes);
        if (g != null) {
            p.put("guild_id", g.id).put("guild_locale", "en-US");
            p.set("guild", Json.obj().put("id", g.id).put("locale", "en-US").set("features", Json.arr()));
            p.set("member", memberJson(g, user.id(), true));
            p.put("app_permissions", Long.toString(permissions(g, botUser.id())));
            p.set("authorizing_integration_owners", Json.obj().put("0", g.id));
            p.put("context", 0);
        } else {
            p.set("user", userJson(user));
            p.put("app_permissions", Long.toString(EVERYONE_PERMISSIONS & ~PERM_USE_APPLICATION_COMMANDS));
            p.set("authorizing_integration_owners", Json.obj().put("0", "0"));
            p.put("context", 1);
        }
        return p;
    }

    private InteractionHandle send(InteractionState st, ObjectNode payload) {
        synchronized (lock) {
            st.sentNanos = System.nanoTime();
            st.sentAt = Instant.now();
        }
        gateway.dispatch("INTERACTION_CREATE", payload);
        return new InteractionHandle(this, st.id, st.token, st.type, st.name, st.channelId, st.user);
    }

    // =====================================================================================================
    // recordings & waiting
    // =====================================================================================================

    /** Commands currently registered (global first, then per guild). */
    public List<RegisteredCommand> registeredCommands() {
        synchronized (lock) {
            List<RegisteredCommand> out = new ArrayList<>();
            commands.forEach((scope, byKey) -> byKey.values().forEach(json -> out.add(new RegisteredCommand(
                    json.get("id").asText(), json.get("name").asText(), json.path("type").asInt(1),
                    scope.isEmpty() ? null : scope, json.deepCopy()))));
            return out;
        }
    }

    public RegisteredCommand awaitCommand(String name, Duration timeout) {
        return await("command /" + name + " to be registered", timeout, () -> registeredCommands().stream()
                .filter(c -> c.name().equals(name)).findFirst().orElse(null));
    }

    /** The first gateway session's IDENTIFY. */
    public IdentifyInfo awaitIdentify(Duration timeout) {
        return await("a gateway IDENTIFY", timeout, () -> identifies.isEmpty() ? null : identifies.get(0));
    }

    public List<IdentifyInfo> identifies() {
        synchronized (lock) {
            return List.copyOf(identifies);
        }
    }

    public List<RecordedCallback> callbacks(String interactionToken) {
        synchronized (lock) {
            InteractionState st = interactionsByToken.get(interactionToken);
            return st == null ? List.of() : List.copyOf(st.callbacks);
        }
    }

    public RecordedCallback awaitCallback(String interactionToken, Duration timeout) {
        return await("a callback for interaction " + interactionToken, timeout, () -> {
            List<RecordedCallback> cbs = callbacks(interactionToken);
            return cbs.isEmpty() ? null : cbs.get(0);
        });
    }

    /** Every edit of @original for this token, in order (webhook PATCHes and type 7 UPDATE_MESSAGE callbacks). */
    public List<RecordedMessage> originalEdits(String interactionToken) {
        synchronized (lock) {
            InteractionState st = interactionsByToken.get(interactionToken);
            return st == null ? List.of() : List.copyOf(st.originalEdits);
        }
    }

    /** Waits for an edit of @original matching the condition (edits already made count). */
    public RecordedMessage awaitOriginalEdit(String interactionToken, Predicate<RecordedMessage> condition,
            Duration timeout) {
        return await("an edit of @original for interaction " + interactionToken, timeout,
                () -> originalEdits(interactionToken).stream().filter(condition).findFirst().orElse(null));
    }

    public List<RecordedMessage> followups(String interactionToken) {
        synchronized (lock) {
            InteractionState st = interactionsByToken.get(interactionToken);
            return st == null ? List.of() : List.copyOf(st.followups);
        }
    }

    public RecordedMessage awaitFollowup(String interactionToken, Predicate<RecordedMessage> condition,
            Duration timeout) {
        return await("a followup for interaction " + interactionToken, timeout,
                () -> followups(interactionToken).stream().filter(condition).findFirst().orElse(null));
    }

    /** The interaction's @original message as it stands now; null before a callback created one. */
    public RecordedMessage original(String interactionToken) {
        synchronized (lock) {
            InteractionState st = interactionsByToken.get(interactionToken);
            if (st == null || st.originalMessageId == null) {
                return null;
            }
            return message(st.originalMessageId);
        }
    }

    /**
     * Callbacks refused because they came later than {@link #setCallbackDeadline} after the INTERACTION_CREATE (JDA
     * sees 404 / 10062 Unknown interaction); each entry is how late the callback arrived.
     */
    public List<Duration> lateCallbacks(String interactionToken) {
        synchronized (lock) {
            InteractionState st = interactionsByToken.get(interactionToken);
            return st == null ? List.of() : List.copyOf(st.lateCallbacks);
        }
    }

    /** Number of gateway sessions that became ready (IDENTIFY → READY, or RESUME → RESUMED). */
    public int readySessions() {
        synchronized (lock) {
            return readySessions;
        }
    }

    /** Whether the bot deleted the interaction's @original. */
    public boolean originalDeleted(String interactionToken) {
        synchronized (lock) {
            InteractionState st = interactionsByToken.get(interactionToken);
            return st != null && st.originalMessageId != null && messages.get(st.originalMessageId).deleted;
        }
    }

    /** Messages the bot posted with {@code POST /channels/{id}/messages} to this channel, in order. */
    public List<RecordedMessage> channelMessages(String channelId) {
        synchronized (lock) {
            return messageLog.stream().filter(m -> m.kind() == RecordedMessage.Kind.CHANNEL_MESSAGE
                    && m.channelId().equals(channelId)).toList();
        }
    }

    public RecordedMessage awaitChannelMessage(String channelId, Predicate<RecordedMessage> condition,
            Duration timeout) {
        return await("a message in channel " + channelId, timeout,
                () -> channelMessages(channelId).stream().filter(condition).findFirst().orElse(null));
    }

    /** Any message's current state (null if unknown). */
    public RecordedMessage message(String messageId) {
        synchronized (lock) {
            StoredMessage m = messages.get(messageId);
            return m == null ? null : m.snapshot(RecordedMessage.Kind.CURRENT, null, null);
        }
    }

    public boolean messageDeleted(String messageId) {
        synchronized (lock) {
            StoredMessage m = messages.get(messageId);
            return m != null && m.deleted;
        }
    }

    /** Every message create/edit the bot made, in order. */
    public List<RecordedMessage> messageLog() {
        synchronized (lock) {
            return List.copyOf(messageLog);
        }
    }

    /** REST calls the fake does not implement; a healthy test ends with this empty. */
    public List<UnknownRoute> unknownRoutes() {
        synchronized (lock) {
            return List.copyOf(unknownRoutes);
        }
    }

    public List<RecordedRequest> requests() {
        synchronized (lock) {
            return List.copyOf(requests);
        }
    }

    /** Gateway protocol problems seen (unknown opcodes, unsupported encodings, binary frames). */
    public List<String> gatewayProblems() {
        synchronized (lock) {
            return List.copyOf(gatewayProblems);
        }
    }

    /**
     * Waits (on the fake's monitor, no sleeping) until {@code probe} returns non-null; throws {@link AssertionError}
     * with the fake's recent activity on timeout.
     */
    public <T> T await(String what, Duration timeout, Supplier<T> probe) {
        long deadline = System.nanoTime() + timeout.toNanos();
        synchronized (lock) {
            while (true) {
                T value = probe.get();
                if (value != null) {
                    return value;
                }
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    throw new AssertionError("timed out after " + timeout + " waiting for " + what
                            + "\nrecent requests: " + tail(requests, 15) + "\nrecent messages: " + tail(messageLog, 5)
                            + "\nunknown routes: " + unknownRoutes);
                }
                try {
                    TimeUnit.NANOSECONDS.timedWait(lock, left);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new AssertionError("interrupted waiting for " + what, e);
                }
            }
        }
    }

    private static <T> List<T> tail(List<T> list, int n) {
        return list.subList(Math.max(0, list.size() - n), list.size());
    }

    @Override
    public void close() {
        http.stop(0);
        httpExecutor.shutdownNow();
        gateway.close();
    }

    // =====================================================================================================
    // gateway hooks (called by FakeGateway)
    // =====================================================================================================

    void recordIdentify(IdentifyInfo info) {
        synchronized (lock) {
            identifies.add(info);
            lock.notifyAll();
        }
    }

    void recordGatewayProblem(String problem) {
        LOG.warn("fake gateway: {}", problem);
        synchronized (lock) {
            gatewayProblems.add(problem);
            lock.notifyAll();
        }
    }

    void sessionReady() {
        synchronized (lock) {
            readySessions++;
            lock.notifyAll();
        }
    }

    ObjectNode readyPayload(String sessionId, String resumeUrl) {
        synchronized (lock) {
            ObjectNode d = Json.obj().put("v", 10);
            ObjectNode user = userJson(botUser);
            user.put("verified", true).put("mfa_enabled", false).putNull("email").put("flags", 0);
            d.set("user", user);
            ArrayNode gs = d.putArray("guilds");
            guilds.values().forEach(g -> gs.add(Json.obj().put("id", g.id).put("unavailable", true)));
            d.put("session_id", sessionId).put("resume_gateway_url", resumeUrl).put("session_type", "normal");
            d.set("application", Json.obj().put("id", applicationId).put("flags", (1 << 15) | (1 << 19) | (1 << 23)));
            d.putArray("private_channels");
            d.putArray("presences");
            d.putArray("relationships");
            d.putArray("guild_join_requests");
            d.putArray("geo_ordered_rtc_regions").add("fake");
            d.set("user_settings", Json.obj());
            d.set("auth", Json.obj());
            d.putArray("_trace").add("[\"fake-discord-gateway\",{\"micros\":1}]");
            return d;
        }
    }

    List<ObjectNode> guildCreatePayloads(long intents) {
        synchronized (lock) {
            List<ObjectNode> out = new ArrayList<>();
            for (GuildState g : guilds.values()) {
                out.add(guildJson(g));
            }
            return out;
        }
    }

    ObjectNode memberChunk(String guildId, JsonNode request) {
        synchronized (lock) {
            GuildState g = guilds.get(guildId);
            if (g == null) {
                return null;
            }
            ObjectNode chunk = Json.obj().put("guild_id", g.id).put("chunk_index", 0).put("chunk_count", 1);
            ArrayNode members = chunk.putArray("members");
            ArrayNode notFound = chunk.putArray("not_found");
            JsonNode ids = request.path("user_ids");
            if (ids.isMissingNode() || ids.isNull()) {
                g.members.keySet().forEach(id -> members.add(memberJson(g, id, false)));
            } else {
                List<String> wanted = new ArrayList<>();
                if (ids.isArray()) {
                    ids.forEach(i -> wanted.add(i.asText()));
                } else {
                    wanted.add(ids.asText());
                }
                for (String id : wanted) {
                    if (g.members.containsKey(id)) {
                        members.add(memberJson(g, id, false));
                    } else {
                        notFound.add(id);
                    }
                }
            }
            if (request.hasNonNull("nonce")) {
                chunk.put("nonce", request.get("nonce").asText());
            }
            return chunk;
        }
    }

    // =====================================================================================================
    // JSON of the world
    // =====================================================================================================

    private ObjectNode userJson(FakeUser u) {
        ObjectNode o = Json.obj().put("id", u.id()).put("username", u.username())
                .put("discriminator", u.bot() ? "4242" : "0").put("public_flags", 0).put("flags", 0);
        o.putNull("avatar");
        if (u.globalName() == null) {
            o.putNull("global_name");
        } else {
            o.put("global_name", u.globalName());
        }
        if (u.bot()) {
            o.put("bot", true);
        }
        o.putNull("avatar_decoration_data");
        o.putNull("primary_guild");
        return o;
    }

    private ObjectNode memberJson(GuildState g, String userId, boolean withPermissions) {
        ObjectNode m = Json.obj();
        m.set("user", userJson(users.get(userId)));
        ArrayNode roles = m.putArray("roles");
        g.members.get(userId).forEach(roles::add);
        m.putNull("nick").putNull("avatar").putNull("banner").putNull("premium_since")
                .putNull("communication_disabled_until");
        m.put("joined_at", g.joinedAt.getOrDefault(userId, now())).put("deaf", false).put("mute", false)
                .put("pending", false).put("flags", 0);
        if (withPermissions) {
            m.put("permissions", Long.toString(permissions(g, userId)));
        }
        return m;
    }

    private long permissions(GuildState g, String userId) {
        if (g.ownerId.equals(userId)) {
            return ALL_PERMISSIONS;
        }
        long perms = EVERYONE_PERMISSIONS;
        for (String role : g.members.getOrDefault(userId, List.of())) {
            perms |= g.rolePermissions(role);
        }
        return (perms & PERM_ADMINISTRATOR) != 0 ? ALL_PERMISSIONS : perms;
    }

    private ObjectNode roleJson(String id, String name, int position, long permissions, boolean managed,
            String botId) {
        ObjectNode r = Json.obj().put("id", id).put("name", name).put("color", 0).put("hoist", false)
                .put("position", position).put("permissions", Long.toString(permissions)).put("managed", managed)
                .put("mentionable", false).put("flags", 0);
        r.putNull("icon").putNull("unicode_emoji").putNull("description");
        r.set("colors", Json.obj().put("primary_color", 0).putNull("secondary_color").putNull("tertiary_color"));
        if (botId != null) {
            r.set("tags", Json.obj().put("bot_id", botId));
        }
        return r;
    }

    private ObjectNode channelJson(FakeChannel c) {
        ObjectNode o = Json.obj().put("id", c.id()).put("type", c.type()).put("flags", 0);
        o.putNull("last_message_id");
        if (c.isDm()) {
            ArrayNode recipients = o.putArray("recipients");
            users.values().stream().filter(u -> c.id().equals(dmChannelByUser.get(u.id())))
                    .forEach(u -> recipients.add(userJson(u)));
            return o;
        }
        o.put("guild_id", c.guildId()).put("name", c.name()).put("position", c.position()).put("nsfw", c.nsfw())
                .put("rate_limit_per_user", 0);
        o.putNull("topic").putNull("parent_id");
        o.putArray("permission_overwrites");
        return o;
    }

    private ObjectNode guildJson(GuildState g) {
        ObjectNode o = Json.obj().put("id", g.id).put("name", g.name).put("owner_id", g.ownerId)
                .put("afk_timeout", 300).put("verification_level", 0).put("default_message_notifications", 0)
                .put("explicit_content_filter", 0).put("mfa_level", 0).put("system_channel_flags", 0)
                .put("max_members", 500000).put("premium_tier", 0).put("premium_subscription_count", 0)
                .put("preferred_locale", "en-US").put("nsfw_level", 0).put("premium_progress_bar_enabled", false)
                .put("joined_at", g.joinedAt.get(botUser.id())).put("large", false).put("unavailable", false)
                .put("lazy", true).put("member_count", g.members.size())
                .put("system_channel_id", g.channelIds.get(0));
        o.putNull("icon").putNull("splash").putNull("discovery_splash").putNull("banner").putNull("description")
                .putNull("afk_channel_id").putNull("application_id").putNull("rules_channel_id")
                .putNull("public_updates_channel_id").putNull("safety_alerts_channel_id").putNull("vanity_url_code")
                .putNull("max_presences").putNull("incidents_data");
        ArrayNode roles = o.putArray("roles");
        roles.add(roleJson(g.id, "@everyone", 0, EVERYONE_PERMISSIONS, false, null));
        roles.add(roleJson(g.adminRoleId, "Admin", 1, PERM_MANAGE_GUILD, false, null));
        roles.add(roleJson(g.botRoleId, botUser.username(), 2, BOT_ROLE_PERMISSIONS, true, botUser.id()));
        ArrayNode members = o.putArray("members");
        g.members.keySet().forEach(id -> members.add(memberJson(g, id, false)));
        ArrayNode chans = o.putArray("channels");
        g.channelIds.forEach(id -> chans.add(channelJson(channels.get(id))));
        for (String empty : List.of("emojis", "features", "stickers", "voice_states", "threads", "presences",
                "stage_instances", "guild_scheduled_events", "soundboard_sounds", "embedded_activities")) {
            o.putArray(empty);
        }
        return o;
    }

    private FakeChannel addChannel(GuildState g, String name, boolean nsfw) {
        FakeChannel c = new FakeChannel(nextId(), g.id, name, 0, g.channelIds.size(), nsfw);
        channels.put(c.id(), c);
        g.channelIds.add(c.id());
        return c;
    }

    // =====================================================================================================
    // REST
    // =====================================================================================================

    private interface Handler {
        Resp handle(Req req) throws Exception;
    }

    private record RouteDef(String method, String[] pattern, boolean botAuth, Handler handler) {
    }

    private record Req(String method, String path, String query, List<String> segments, Map<String, String> vars,
            Map<String, String> params, HttpExchange exchange, byte[] body, long arrivalNanos) {
        String var(String name) {
            return vars.get(name);
        }

        String header(String name) {
            return exchange.getRequestHeaders().getFirst(name);
        }
    }

    private record Resp(int status, JsonNode body, Map<String, String> headers) {
        static Resp json(int status, JsonNode body) {
            return new Resp(status, body, Map.of());
        }

        static Resp ok(JsonNode body) {
            return json(200, body);
        }

        static Resp noContent() {
            return new Resp(204, null, Map.of());
        }
    }

    private record InjectedFailure(String method, Pattern path, int status, int code, String message,
            AtomicInteger remaining) {
    }

    static Resp error(int status, int code, String message) {
        return Resp.json(status, Json.obj().put("message", message).put("code", code));
    }

    static Resp formError(String field, String errorCode, String message) {
        ObjectNode body = Json.obj().put("message", "Invalid Form Body").put("code", 50035);
        ObjectNode errors = body.putObject("errors");
        ObjectNode cursor = errors;
        for (String part : field.split("\\.")) {
            cursor = cursor.putObject(part);
        }
        cursor.putArray("_errors").add(Json.obj().put("code", errorCode).put("message", message));
        return Resp.json(400, body);
    }

    private void route(String method, String pattern, boolean botAuth, Handler handler) {
        routes.add(new RouteDef(method, pattern.split("/"), botAuth, handler));
    }

    private void defineRoutes() {
        route("GET", "gateway", false, r -> Resp.ok(Json.obj().put("url", gatewayUrl())));
        route("GET", "gateway/bot", true, r -> {
            ObjectNode o = Json.obj().put("url", gatewayUrl()).put("shards", 1);
            o.set("session_start_limit", Json.obj().put("total", 1000).put("remaining", 999)
                    .put("reset_after", 14_400_000).put("max_concurrency", 1));
            return Resp.ok(o);
        });
        route("GET", "users/@me", true, r -> {
            ObjectNode u = userJson(botUser);
            u.put("verified", true).put("mfa_enabled", false).putNull("email").putNull("locale").putNull("banner")
                    .putNull("accent_color");
            return Resp.ok(u);
        });
        route("POST", "users/@me/channels", true, this::openDm);
        route("GET", "users/{user}", true, r -> {
            FakeUser u = users.get(r.var("user"));
            return u == null ? error(404, 10013, "Unknown User") : Resp.ok(userJson(u));
        });
        route("GET", "oauth2/applications/@me", true, r -> Resp.ok(applicationJson()));
        route("GET", "applications/@me", true, r -> Resp.ok(applicationJson()));

        route("GET", "applications/{app}/commands", true, r -> listCommands(r, ""));
        route("PUT", "applications/{app}/commands", true, r -> putCommands(r, ""));
        route("POST", "applications/{app}/commands", true, r -> upsertCommand(r, ""));
        route("GET", "applications/{app}/commands/{cmd}", true, r -> getCommand(r, ""));
        route("PATCH", "applications/{app}/commands/{cmd}", true, r -> patchCommand(r, ""));
        route("DELETE", "applications/{app}/commands/{cmd}", true, r -> deleteCommand(r, ""));
        route("GET", "applications/{app}/guilds/{guild}/commands", true, r -> listCommands(r, r.var("guild")));
        route("PUT", "applications/{app}/guilds/{guild}/commands", true, r -> putCommands(r, r.var("guild")));
        route("POST", "applications/{app}/guilds/{guild}/commands", true, r -> upsertCommand(r, r.var("guild")));
        route("GET", "applications/{app}/guilds/{guild}/commands/{cmd}", true, r -> getCommand(r, r.var("guild")));
        route("PATCH", "applications/{app}/guilds/{guild}/commands/{cmd}", true,
                r -> patchCommand(r, r.var("guild")));
        route("DELETE", "applications/{app}/guilds/{guild}/commands/{cmd}", true,
                r -> deleteCommand(r, r.var("guild")));

        route("POST", "interactions/{iid}/{token}/callback", false, this::interactionCallback);
        route("POST", "webhooks/{app}/{token}", false, this::createFollowup);
        route("GET", "webhooks/{app}/{token}/messages/{mid}", false, this::getWebhookMessage);
        route("PATCH", "webhooks/{app}/{token}/messages/{mid}", false, this::editWebhookMessage);
        route("DELETE", "webhooks/{app}/{token}/messages/{mid}", false, this::deleteWebhookMessage);

        route("GET", "channels/{channel}", true, r -> {
            FakeChannel c = channels.get(r.var("channel"));
            return c == null ? error(404, 10003, "Unknown Channel") : Resp.ok(channelJson(c));
        });
        route("POST", "channels/{channel}/typing", true, r -> channels.containsKey(r.var("channel"))
                ? Resp.noContent() : error(404, 10003, "Unknown Channel"));
        route("GET", "channels/{channel}/messages", true, this::listChannelMessages);
        route("POST", "channels/{channel}/messages", true, this::createChannelMessage);
        route("GET", "channels/{channel}/messages/{mid}", true, r -> {
            StoredMessage m = channelMessage(r);
            return m == null ? error(404, 10008, "Unknown Message") : Resp.ok(messageJson(m));
        });
        route("PATCH", "channels/{channel}/messages/{mid}", true, this::editChannelMessage);
        route("DELETE", "channels/{channel}/messages/{mid}", true, r -> {
            StoredMessage m = channelMessage(r);
            if (m == null) {
                return error(404, 10008, "Unknown Message");
            }
            m.deleted = true;
            return Resp.noContent();
        });
        route("PUT", "channels/{channel}/messages/{mid}/reactions/{emoji}/@me", true,
                r -> channelMessage(r) == null ? error(404, 10008, "Unknown Message") : Resp.noContent());
        route("DELETE", "channels/{channel}/messages/{mid}/reactions/{emoji}/@me", true,
                r -> channelMessage(r) == null ? error(404, 10008, "Unknown Message") : Resp.noContent());
        route("GET", "guilds/{guild}", true, r -> {
            GuildState g = guilds.get(r.var("guild"));
            return g == null ? error(404, 10004, "Unknown Guild") : Resp.ok(guildJson(g));
        });
        route("GET", "guilds/{guild}/members/{user}", true, r -> {
            GuildState g = guilds.get(r.var("guild"));
            if (g == null) {
                return error(404, 10004, "Unknown Guild");
            }
            return g.members.containsKey(r.var("user")) ? Resp.ok(memberJson(g, r.var("user"), false))
                    : error(404, 10007, "Unknown Member");
        });
    }

    private void handle(HttpExchange ex) {
        long arrival = System.nanoTime();
        String method = ex.getRequestMethod();
        String rawPath = ex.getRequestURI().getRawPath();
        String query = ex.getRequestURI().getRawQuery();
        Resp resp;
        String path = rawPath;
        try {
            byte[] body = ex.getRequestBody().readAllBytes();
            if (rawPath.startsWith("/attachments/")) {
                serveAttachment(ex, rawPath);
                return;
            }
            if (!rawPath.startsWith(API_PREFIX)) {
                resp = unknown(method, rawPath, query);
            } else {
                path = rawPath.substring(API_PREFIX.length());
                resp = dispatchRest(method, path, query, ex, body, arrival);
            }
            write(ex, path, resp);
            synchronized (lock) {
                requests.add(new RecordedRequest(method, path, query, resp.status(), Instant.now()));
                lock.notifyAll();
            }
        } catch (Exception e) {
            LOG.error("fake Discord failed on {} {}", method, rawPath, e);
            try {
                write(ex, path, error(500, 0, "500: Internal Server Error (fake: " + e + ")"));
            } catch (IOException ignored) {
                // client gone
            }
        } finally {
            ex.close();
        }
    }

    private Resp dispatchRest(String method, String path, String query, HttpExchange ex, byte[] body, long arrival)
            throws Exception {
        List<String> segments = new ArrayList<>();
        for (String s : path.split("/")) {
            if (!s.isEmpty()) {
                segments.add(URLDecoder.decode(s, StandardCharsets.UTF_8));
            }
        }
        Map<String, String> params = new HashMap<>();
        if (query != null) {
            for (String kv : query.split("&")) {
                int eq = kv.indexOf('=');
                params.put(URLDecoder.decode(eq < 0 ? kv : kv.substring(0, eq), StandardCharsets.UTF_8),
                        eq < 0 ? "" : URLDecoder.decode(kv.substring(eq + 1), StandardCharsets.UTF_8));
            }
        }
        synchronized (lock) {
            for (InjectedFailure f : injectedFailures) {
                if (f.method.equals(method) && f.path.matcher(path).matches() && f.remaining.get() > 0) {
                    f.remaining.decrementAndGet();
                    return injected(f);
                }
            }
        }
        boolean pathMatched = false;
        for (RouteDef def : routes) {
            Map<String, String> vars = match(def.pattern, segments);
            if (vars == null) {
                continue;
            }
            pathMatched = true;
            if (!def.method.equals(method)) {
                continue;
            }
            if (def.botAuth && !("Bot " + token).equals(ex.getRequestHeaders().getFirst("Authorization"))) {
                return error(401, 0, "401: Unauthorized");
            }
            Req req = new Req(method, path, query, segments, vars, params, ex, body, arrival);
            synchronized (lock) {
                try {
                    return def.handler.handle(req);
                } finally {
                    lock.notifyAll();
                }
            }
        }
        if (pathMatched) {
            synchronized (lock) {
                unknownRoutes.add(new UnknownRoute(method, path, query));
                lock.notifyAll();
            }
            return error(405, 0, "405: Method Not Allowed");
        }
        return unknown(method, path, query);
    }

    private Resp unknown(String method, String path, String query) {
        LOG.warn("fake Discord: unknown route {} {}", method, path);
        synchronized (lock) {
            unknownRoutes.add(new UnknownRoute(method, path, query));
            lock.notifyAll();
        }
        return error(404, 0, "404: Not Found");
    }

    private static Map<String, String> match(String[] pattern, List<String> segments) {
        if (pattern.length != segments.size()) {
            return null;
        }
        Map<String, String> vars = new HashMap<>();
        for (int i = 0; i < pattern.length; i++) {
            String p = pattern[i];
            if (p.startsWith("{")) {
                vars.put(p.substring(1, p.length() - 1), segments.get(i));
            } else if (!p.equals(segments.get(i))) {
                return null;
            }
        }
        return vars;
    }

    private Resp injected(InjectedFailure f) {
        ObjectNode body = Json.obj().put("message", f.message).put("code", f.code);
        Map<String, String> headers = new HashMap<>();
        if (f.status == 429) {
            body.put("retry_after", 0.05).put("global", false);
            headers.put("Retry-After", "1");
            headers.put("X-RateLimit-Remaining", "0");
            headers.put("X-RateLimit-Reset-After", "0.050");
            headers.put("X-RateLimit-Scope", "user");
        }
        return new Resp(f.status, body, headers);
    }

    private void write(HttpExchange ex, String path, Resp resp) throws IOException {
        var h = ex.getResponseHeaders();
        long nowMs = System.currentTimeMillis();
        h.set("Via", "1.1 google"); // JDA treats a 429 without "via" as a Cloudflare ban
        h.set("X-RateLimit-Bucket", bucket(path));
        h.set("X-RateLimit-Limit", "5");
        h.set("X-RateLimit-Remaining", "4");
        long reset = nowMs + 1000; // seconds with 3 decimals, without String.format's cost on every response
        h.set("X-RateLimit-Reset", reset / 1000 + "." + (reset % 1000 < 100 ? reset % 1000 < 10 ? "00" : "0" : "")
                + reset % 1000);
        h.set("X-RateLimit-Reset-After", "1.000");
        resp.headers().forEach(h::set);
        if (resp.body() == null) {
            ex.sendResponseHeaders(resp.status(), -1);
            return;
        }
        byte[] bytes = Json.bytes(resp.body());
        h.set("Content-Type", "application/json");
        ex.sendResponseHeaders(resp.status(), bytes.length);
        try (OutputStream out = ex.getResponseBody()) {
            out.write(bytes);
        }
    }

    /** A stable bucket hash per route shape (ids and tokens replaced). */
    private static final java.util.regex.Pattern ID = java.util.regex.Pattern.compile("[0-9]{5,}");
    private static final java.util.regex.Pattern TOKEN = java.util.regex.Pattern.compile("fake-interaction-token-[^/]+");

    private static String bucket(String path) {
        String shape = TOKEN.matcher(ID.matcher(path).replaceAll("{id}")).replaceAll("{token}");
        return String.format(Locale.ROOT, "%08x", shape.hashCode());
    }

    private void serveAttachment(HttpExchange ex, String rawPath) throws IOException {
        String[] parts = rawPath.split("/");
        RecordedAttachment a;
        synchronized (lock) {
            a = parts.length >= 4 ? attachmentsById.get(parts[3]) : null;
        }
        if (a == null) {
            ex.sendResponseHeaders(404, -1);
            return;
        }
        ex.getResponseHeaders().set("Content-Type", a.contentType() == null ? "application/octet-stream"
                : a.contentType());
        ex.sendResponseHeaders(200, a.bytes().length);
        try (OutputStream out = ex.getResponseBody()) {
            out.write(a.bytes());
        }
    }

    private ObjectNode applicationJson() {
        ObjectNode a = Json.obj().put("id", applicationId).put("name", botUser.username()).put("description", "")
                .put("bot_public", true).put("bot_require_code_grant", false).put("verify_key", "00")
                .put("flags", (1 << 15) | (1 << 19) | (1 << 23)).put("approximate_guild_count", guilds.size());
        a.putNull("icon").putNull("team");
        a.set("owner", userJson(owner));
        a.set("bot", userJson(botUser));
        a.putArray("tags");
        a.putArray("redirect_uris");
        return a;
    }

    private Resp openDm(Req r) {
        JsonNode body = Json.parse(r.body());
        FakeUser u = users.get(Json.str(body, "recipient_id"));
        if (u == null) {
            return error(404, 10013, "Unknown User");
        }
        return Resp.ok(channelJson(dmChannel(u)));
    }

    // ---- commands ----

    private Resp checkApp(Req r, String scope) {
        if (!applicationId.equals(r.var("app"))) {
            return error(403, 50001, "Missing Access");
        }
        if (!scope.isEmpty() && !guilds.containsKey(scope)) {
            return error(403, 50001, "Missing Access");
        }
        return null;
    }

    private Resp listCommands(Req r, String scope) {
        Resp bad = checkApp(r, scope);
        if (bad != null) {
            return bad;
        }
        ArrayNode arr = Json.arr();
        commands.getOrDefault(scope, new LinkedHashMap<>()).values().forEach(arr::add);
        return Resp.ok(arr);
    }

    private Resp putCommands(Req r, String scope) {
        Resp bad = checkApp(r, scope);
        if (bad != null) {
            return bad;
        }
        JsonNode body = Json.parse(r.body());
        if (!body.isArray()) {
            return formError("_root", "BASE_TYPE_ARRAY", "Must be an array.");
        }
        if (body.size() > 100) {
            return formError("_root", "BASE_TYPE_MAX_LENGTH", "Must be 100 or fewer in length.");
        }
        LinkedHashMap<String, ObjectNode> old = commands.getOrDefault(scope, new LinkedHashMap<>());
        LinkedHashMap<String, ObjectNode> fresh = new LinkedHashMap<>();
        for (int i = 0; i < body.size(); i++) {
            Resp invalid = validateCommand(body.get(i), Integer.toString(i));
            if (invalid != null) {
                return invalid;
            }
            ObjectNode cmd = storedCommand((ObjectNode) body.get(i), scope, old);
            if (fresh.put(commandKey(cmd), cmd) != null) {
                return formError(i + ".name", "APPLICATION_COMMANDS_DUPLICATE_NAME",
                        "Application command names must be unique");
            }
        }
        commands.put(scope, fresh);
        ArrayNode arr = Json.arr();
        fresh.values().forEach(arr::add);
        return Resp.ok(arr);
    }

    private Resp upsertCommand(Req r, String scope) {
        Resp bad = checkApp(r, scope);
        if (bad != null) {
            return bad;
        }
        JsonNode body = Json.parse(r.body());
        Resp invalid = validateCommand(body, "_root");
        if (invalid != null) {
            return invalid;
        }
        LinkedHashMap<String, ObjectNode> map = commands.computeIfAbsent(scope, k -> new LinkedHashMap<>());
        ObjectNode cmd = storedCommand((ObjectNode) body, scope, map);
        boolean existed = map.put(commandKey(cmd), cmd) != null;
        return Resp.json(existed ? 200 : 201, cmd);
    }

    private Resp getCommand(Req r, String scope) {
        Resp bad = checkApp(r, scope);
        if (bad != null) {
            return bad;
        }
        return commands.getOrDefault(scope, new LinkedHashMap<>()).values().stream()
                .filter(c -> c.get("id").asText().equals(r.var("cmd"))).findFirst().map(c -> Resp.ok(c))
                .orElse(error(404, 10063, "Unknown application command"));
    }

    private Resp patchCommand(Req r, String scope) {
        Resp bad = checkApp(r, scope);
        if (bad != null) {
            return bad;
        }
        LinkedHashMap<String, ObjectNode> map = commands.getOrDefault(scope, new LinkedHashMap<>());
        for (var e : map.entrySet()) {
            if (e.getValue().get("id").asText().equals(r.var("cmd"))) {
                ObjectNode cmd = e.getValue();
                cmd.setAll((ObjectNode) Json.parse(r.body()));
                cmd.put("version", nextId());
                return Resp.ok(cmd);
            }
        }
        return error(404, 10063, "Unknown application command");
    }

    private Resp deleteCommand(Req r, String scope) {
        Resp bad = checkApp(r, scope);
        if (bad != null) {
            return bad;
        }
        boolean removed = commands.getOrDefault(scope, new LinkedHashMap<>()).values()
                .removeIf(c -> c.get("id").asText().equals(r.var("cmd")));
        return removed ? Resp.noContent() : error(404, 10063, "Unknown application command");
    }

    private static final Pattern COMMAND_NAME = Pattern.compile("^[-_\\p{L}\\p{N}]{1,32}$");

    private static Resp validateCommand(JsonNode cmd, String field) {
        String name = Json.str(cmd, "name");
        int type = cmd.path("type").asInt(1);
        if (name == null || !COMMAND_NAME.matcher(name).matches() || (type == 1 && !name.equals(
                name.toLowerCase(Locale.ROOT)))) {
            return formError(field + ".name", "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid");
        }
        String description = Json.str(cmd, "description");
        if (type == 1 && (description == null || description.isEmpty() || description.length() > 100)) {
            return formError(field + ".description", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.");
        }
        return validateOptionSchema(cmd.path("options"), field + ".options");
    }

    private static Resp validateOptionSchema(JsonNode options, String field) {
        if (options.size() > 25) {
            return formError(field, "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.");
        }
        boolean seenOptional = false;
        for (int i = 0; i < options.size(); i++) {
            JsonNode o = options.get(i);
            String name = Json.str(o, "name");
            if (name == null || !COMMAND_NAME.matcher(name).matches() || !name.equals(name.toLowerCase(Locale.ROOT))) {
                return formError(field + "." + i + ".name", "APPLICATION_COMMAND_INVALID_NAME",
                        "Command name is invalid");
            }
            String description = Json.str(o, "description");
            if (description == null || description.isEmpty() || description.length() > 100) {
                return formError(field + "." + i + ".description", "BASE_TYPE_BAD_LENGTH",
                        "Must be between 1 and 100 in length.");
            }
            int type = o.path("type").asInt();
            if (type == Opt.SUB_COMMAND || type == Opt.SUB_COMMAND_GROUP) {
                Resp nested = validateOptionSchema(o.path("options"), field + "." + i + ".options");
                if (nested != null) {
                    return nested;
                }
                continue;
            }
            boolean required = o.path("required").asBoolean(false);
            if (required && seenOptional) {
                return formError(field + "." + i + ".required", "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                        "Required options must be placed before non-required options");
            }
            seenOptional |= !required;
        }
        return null;
    }

    private static String commandKey(JsonNode cmd) {
        return cmd.path("type").asInt(1) + ":" + cmd.get("name").asText();
    }

    private ObjectNode storedCommand(ObjectNode sent, String scope, Map<String, ObjectNode> previous) {
        ObjectNode cmd = sent.deepCopy();
        if (!cmd.has("type")) {
            cmd.put("type", 1);
        }
        ObjectNode before = previous.get(commandKey(cmd));
        cmd.put("id", before != null ? before.get("id").asText() : nextId());
        cmd.put("application_id", applicationId);
        cmd.put("version", nextId());
        if (!scope.isEmpty()) {
            cmd.put("guild_id", scope);
        }
        if (!cmd.has("default_member_permissions")) {
            cmd.putNull("default_member_permissions");
        }
        if (!cmd.has("nsfw")) {
            cmd.put("nsfw", false);
        }
        return cmd;
    }

    private ObjectNode findCommand(String name, GuildState g) {
        if (g != null) {
            ObjectNode c = commands.getOrDefault(g.id, new LinkedHashMap<>()).get("1:" + name);
            if (c != null) {
                return c;
            }
        }
        return commands.getOrDefault("", new LinkedHashMap<>()).get("1:" + name);
    }

    private static void validateOptions(JsonNode schema, List<Opt> given, String where, boolean autocomplete) {
        for (Opt o : given) {
            JsonNode def = null;
            for (JsonNode s : schema) {
                if (o.name().equals(s.path("name").asText())) {
                    def = s;
                }
            }
            if (def == null) {
                throw new IllegalArgumentException(where + " has no option '" + o.name() + "'");
            }
            int type = def.path("type").asInt();
            if (type != o.type()) {
                throw new IllegalArgumentException(where + " option '" + o.name() + "' is registered with type "
                        + type + ", not " + o.type());
            }
            if (type == Opt.SUB_COMMAND || type == Opt.SUB_COMMAND_GROUP) {
                validateOptions(def.path("options"), o.options(), where + " " + o.name(), autocomplete);
                continue;
            }
            if (o.focused()) {
                if (!def.path("autocomplete").asBoolean(false)) {
                    throw new IllegalArgumentException(where + " option '" + o.name() + "' has no autocomplete");
                }
                continue;
            }
            JsonNode choices = def.path("choices");
            if (choices.isArray() && choices.size() > 0) {
                boolean found = false;
                for (JsonNode c : choices) {
                    found |= c.path("value").asText().equals(String.valueOf(o.value()))
                            || (o.value() instanceof Number n && c.path("value").isNumber()
                                    && c.path("value").asDouble() == n.doubleValue());
                }
                if (!found) {
                    throw new IllegalArgumentException(where + " option '" + o.name() + "' value " + o.value()
                            + " is not one of the choices " + choices);
                }
            }
            if (o.value() instanceof Number n) {
                if (def.hasNonNull("min_value") && n.doubleValue() < def.get("min_value").asDouble()) {
                    throw new IllegalArgumentException(where + " option '" + o.name() + "' below min_value");
                }
                if (def.hasNonNull("max_value") && n.doubleValue() > def.get("max_value").asDouble()) {
                    throw new IllegalArgumentException(where + " option '" + o.name() + "' above max_value");
                }
            }
            if (o.value() instanceof String s) {
                if (def.hasNonNull("min_length") && s.length() < def.get("min_length").asInt()) {
                    throw new IllegalArgumentException(where + " option '" + o.name() + "' shorter than min_length");
                }
                if (def.hasNonNull("max_length") && s.length() > def.get("max_length").asInt()) {
                    throw new IllegalArgumentException(where + " option '" + o.name() + "' longer than max_length");
                }
            }
        }
        boolean hasSub = false;
        for (JsonNode s : schema) {
            int type = s.path("type").asInt();
            hasSub |= type == Opt.SUB_COMMAND || type == Opt.SUB_COMMAND_GROUP;
            if (!autocomplete && s.path("required").asBoolean(false)
                    && given.stream().noneMatch(o -> o.name().equals(s.path("name").asText()))) {
                throw new IllegalArgumentException(where + " requires option '" + s.path("name").asText() + "'");
            }
        }
        if (hasSub && given.size() != 1) {
            throw new IllegalArgumentException(where + " needs exactly one subcommand");
        }
    }

    private ObjectNode resolved(GuildState g, List<Opt> options) {
        List<FakeUser> mentioned = new ArrayList<>();
        collectUsers(options, mentioned);
        if (mentioned.isEmpty()) {
            return null;
        }
        ObjectNode resolved = Json.obj();
        ObjectNode us = resolved.putObject("users");
        ObjectNode ms = g == null ? null : resolved.putObject("members");
        for (FakeUser u : mentioned) {
            us.set(u.id(), userJson(u));
            if (ms != null && g.members.containsKey(u.id())) {
                ObjectNode m = memberJson(g, u.id(), true);
                m.remove("user");
                ms.set(u.id(), m);
            }
        }
        return resolved;
    }

    private static void collectUsers(List<Opt> options, List<FakeUser> out) {
        for (Opt o : options) {
            if (o.value() instanceof FakeUser u) {
                out.add(u);
            }
            collectUsers(o.options(), out);
        }
    }

    // ---- interactions ----

    private Resp interactionCallback(Req r) {
        InteractionState st = interactionsById.get(r.var("iid"));
        if (st == null || !st.token.equals(r.var("token")) || expiredTokens.containsKey(st.token)) {
            return error(404, 10062, "Unknown interaction");
        }
        Duration latency = Duration.ofNanos(r.arrivalNanos() - st.sentNanos);
        if (st.acknowledged) {
            return error(400, 40060, "Interaction has already been acknowledged.");
        }
        Duration deadline = callbackDeadline;
        if (deadline != null && latency.compareTo(deadline) > 0) {
            st.lateCallbacks.add(latency);
            return error(404, 10062, "Unknown interaction");
        }
        Payload p = readPayload(r);
        int type = p.json().path("type").asInt(-1);
        JsonNode data = p.json().path("data");
        ObjectNode dataObj = data.isObject() ? (ObjectNode) data : Json.obj();
        boolean allowed = switch (type) {
            case 4, 5 -> st.type == 2 || st.type == 3 || st.type == 5;
            case 6, 7 -> st.type == 3 || (st.type == 5 && st.componentMessageId != null);
            case 8 -> st.type == 4;
            case 9 -> st.type == 2 || st.type == 3;
            default -> false;
        };
        if (!allowed) {
            return formError("type", "INTERACTION_RESPONSE_TYPE_INVALID",
                    "Interaction response type " + type + " is not valid for interaction type " + st.type);
        }
        StoredMessage msg = null;
        List<RecordedAttachment> uploaded = List.of();
        switch (type) {
            case 4 -> {
                msg = newInteractionMessage(st, st.type == 2 ? 20 : 0);
                Resp bad = applyMessage(msg, dataObj, p.files(), true);
                if (bad != null) {
                    return bad;
                }
                commit(msg);
                st.originalMessageId = msg.id;
                uploaded = msg.attachments;
                messageLog.add(msg.snapshot(RecordedMessage.Kind.INTERACTION_RESPONSE, dataObj, Instant.now()));
            }
            case 5 -> {
                msg = newInteractionMessage(st, st.type == 2 ? 20 : 0);
                msg.flags = RecordedMessage.FLAG_LOADING | (dataObj.path("flags").asInt(0)
                        & RecordedMessage.FLAG_EPHEMERAL);
                commit(msg);
                st.originalMessageId = msg.id;
                messageLog.add(msg.snapshot(RecordedMessage.Kind.INTERACTION_RESPONSE, dataObj, Instant.now()));
            }
            case 6 -> st.originalMessageId = st.componentMessageId;
            case 7 -> {
                msg = messages.get(st.componentMessageId);
                Resp bad = applyMessage(msg, dataObj, p.files(), false);
                if (bad != null) {
                    return bad;
                }
                st.originalMessageId = msg.id;
                uploaded = msg.attachments;
                RecordedMessage snap = msg.snapshot(RecordedMessage.Kind.ORIGINAL_EDIT, dataObj, Instant.now());
                st.originalEdits.add(snap);
                messageLog.add(snap);
            }
            default -> {
                // 8 autocomplete result, 9 modal: recorded below
            }
        }
        st.acknowledged = true;
        st.callbacks.add(new RecordedCallback(type, dataObj.path("flags").asInt(0), Json.str(dataObj, "content"),
                dataObj, uploaded, latency, Instant.now()));
        if (!"true".equals(r.params().get("with_response"))) {
            return Resp.noContent();
        }
        ObjectNode out = Json.obj();
        ObjectNode interaction = out.putObject("interaction").put("id", st.id).put("type", st.type);
        interaction.putNull("activity_instance_id");
        if (st.originalMessageId != null) {
            StoredMessage orig = messages.get(st.originalMessageId);
            interaction.put("response_message_id", orig.id)
                    .put("response_message_loading", (orig.flags & RecordedMessage.FLAG_LOADING) != 0)
                    .put("response_message_ephemeral", (orig.flags & RecordedMessage.FLAG_EPHEMERAL) != 0);
        }
        ObjectNode resource = out.putObject("resource").put("type", type);
        if (msg != null) {
            resource.set("message", messageJson(msg));
        }
        return Resp.ok(out);
    }

    /** The interaction for a webhook route, or the Discord error for it. */
    private Object hookState(Req r) {
        String tok = r.var("token");
        TokenFailure expired = expiredTokens.get(tok);
        if (expired != null) {
            return error(expired.status, expired.code, expired.message);
        }
        InteractionState st = interactionsByToken.get(tok);
        if (st == null || !applicationId.equals(r.var("app"))) {
            return error(401, 50027, "Invalid Webhook Token");
        }
        return st;
    }

    private Resp createFollowup(Req r) {
        Object s = hookState(r);
        if (s instanceof Resp resp) {
            return resp;
        }
        InteractionState st = (InteractionState) s;
        if (!st.acknowledged) {
            return error(404, 10015, "Unknown Webhook");
        }
        Payload p = readPayload(r);
        StoredMessage m = newInteractionMessage(st, 0);
        Resp bad = applyMessage(m, p.json(), p.files(), true);
        if (bad != null) {
            return bad;
        }
        commit(m);
        RecordedMessage snap = m.snapshot(RecordedMessage.Kind.FOLLOWUP, p.json(), Instant.now());
        st.followups.add(snap);
        st.followupIds.add(m.id);
        messageLog.add(snap);
        return "false".equals(r.params().get("wait")) ? Resp.noContent() : Resp.ok(messageJson(m));
    }

    private StoredMessage hookMessage(InteractionState st, String mid) {
        String id = "@original".equals(mid) ? st.originalMessageId : (st.followupIds.contains(mid) ? mid : null);
        StoredMessage m = id == null ? null : messages.get(id);
        return m == null || m.deleted ? null : m;
    }

    private Resp getWebhookMessage(Req r) {
        Object s = hookState(r);
        if (s instanceof Resp resp) {
            return resp;
        }
        StoredMessage m = hookMessage((InteractionState) s, r.var("mid"));
        return m == null ? error(404, 10008, "Unknown Message") : Resp.ok(messageJson(m));
    }

    private Resp editWebhookMessage(Req r) {
        Object s = hookState(r);
        if (s instanceof Resp resp) {
            return resp;
        }
        InteractionState st = (InteractionState) s;
        StoredMessage m = hookMessage(st, r.var("mid"));
        if (m == null) {
            return error(404, 10008, "Unknown Message");
        }
        Payload p = readPayload(r);
        Resp bad = applyMessage(m, p.json(), p.files(), false);
        if (bad != null) {
            return bad;
        }
        m.flags &= ~RecordedMessage.FLAG_LOADING;
        m.editedTimestamp = now();
        boolean original = "@original".equals(r.var("mid"));
        RecordedMessage snap = m.snapshot(original ? RecordedMessage.Kind.ORIGINAL_EDIT
                : RecordedMessage.Kind.FOLLOWUP_EDIT, p.json(), Instant.now());
        (original ? st.originalEdits : st.followups).add(snap);
        messageLog.add(snap);
        return Resp.ok(messageJson(m));
    }

    private Resp deleteWebhookMessage(Req r) {
        Object s = hookState(r);
        if (s instanceof Resp resp) {
            return resp;
        }
        StoredMessage m = hookMessage((InteractionState) s, r.var("mid"));
        if (m == null) {
            return error(404, 10008, "Unknown Message");
        }
        m.deleted = true;
        return Resp.noContent();
    }

    private StoredMessage newInteractionMessage(InteractionState st, int type) {
        StoredMessage m = new StoredMessage(nextId(), st.channelId, st.guildId, type);
        m.webhookId = applicationId;
        m.interactionUserId = st.user.id();
        ObjectNode meta = Json.obj().put("id", st.id).put("type", st.type);
        meta.set("user", userJson(st.user));
        meta.set("authorizing_integration_owners", st.guildId == null ? Json.obj().put("1", st.user.id())
                : Json.obj().put("0", st.guildId));
        if (st.type == 2) {
            meta.put("name", st.name).put("command_type", 1);
        }
        if (st.componentMessageId != null) {
            meta.put("interacted_message_id", st.componentMessageId);
        }
        if (type == 0 && st.originalMessageId != null) {
            meta.put("original_response_message_id", st.originalMessageId);
        }
        m.interactionMetadata = meta;
        return m;
    }

    // ---- channel messages ----

    private StoredMessage channelMessage(Req r) {
        StoredMessage m = messages.get(r.var("mid"));
        return m == null || m.deleted || !m.channelId.equals(r.var("channel")) ? null : m;
    }

    private Resp listChannelMessages(Req r) {
        if (!channels.containsKey(r.var("channel"))) {
            return error(404, 10003, "Unknown Channel");
        }
        int limit = Integer.parseInt(r.params().getOrDefault("limit", "50"));
        List<StoredMessage> list = new ArrayList<>(messages.values().stream()
                .filter(m -> !m.deleted && m.channelId.equals(r.var("channel"))).toList());
        Collections.reverse(list); // newest first
        ArrayNode arr = Json.arr();
        list.stream().limit(limit).forEach(m -> arr.add(messageJson(m)));
        return Resp.ok(arr);
    }

    private Resp createChannelMessage(Req r) {
        FakeChannel c = channels.get(r.var("channel"));
        if (c == null) {
            return error(404, 10003, "Unknown Channel");
        }
        Payload p = readPayload(r);
        StoredMessage m = new StoredMessage(nextId(), c.id(), c.guildId(),
                p.json().hasNonNull("message_reference") ? 19 : 0);
        if (p.json().hasNonNull("message_reference")) {
            m.messageReference = p.json().get("message_reference").deepCopy();
        }
        Resp bad = applyMessage(m, p.json(), p.files(), true);
        if (bad != null) {
            return bad;
        }
        commit(m);
        messageLog.add(m.snapshot(RecordedMessage.Kind.CHANNEL_MESSAGE, p.json(), Instant.now()));
        return Resp.ok(messageJson(m));
    }

    private Resp editChannelMessage(Req r) {
        StoredMessage m = channelMessage(r);
        if (m == null) {
            return error(404, 10008, "Unknown Message");
        }
        Payload p = readPayload(r);
        if (m.authorId != null && !m.authorId.equals(botUser.id()) && p.json().has("content")) {
            return error(403, 50005, "Cannot edit a message authored by another user");
        }
        Resp bad = applyMessage(m, p.json(), p.files(), false);
        if (bad != null) {
            return bad;
        }
        m.editedTimestamp = now();
        messageLog.add(m.snapshot(RecordedMessage.Kind.CHANNEL_EDIT, p.json(), Instant.now()));
        return Resp.ok(messageJson(m));
    }

    private void commit(StoredMessage m) {
        messages.put(m.id, m);
        for (RecordedAttachment a : m.attachments) {
            attachmentsById.put(a.id(), a);
        }
    }

    // ---- message bodies ----

    private record Payload(ObjectNode json, Map<Integer, Multipart.Part> files) {
    }

    private static Payload readPayload(Req r) {
        String contentType = r.header("Content-Type");
        Map<Integer, Multipart.Part> files = new LinkedHashMap<>();
        ObjectNode json = Json.obj();
        if (contentType != null && contentType.toLowerCase(Locale.ROOT).startsWith("multipart/form-data")) {
            for (Multipart.Part part : Multipart.parse(r.body(), Multipart.boundary(contentType))) {
                if ("payload_json".equals(part.name())) {
                    json = (ObjectNode) Json.parse(part.body());
                } else if (part.name() != null && part.name().matches("files\\[\\d+]")) {
                    files.put(Integer.parseInt(part.name().substring(6, part.name().length() - 1)), part);
                } else if (part.name() != null && part.name().matches("file\\d*")) {
                    files.put(files.size(), part);
                }
            }
        } else if (r.body().length > 0) {
            JsonNode parsed = Json.parse(r.body());
            if (parsed.isObject()) {
                json = (ObjectNode) parsed;
            }
        }
        return new Payload(json, files);
    }

    /** No unpaired surrogate. */
    private static boolean wellFormed(String s) {
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (Character.isHighSurrogate(c) && i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1))) {
                i++;
            } else if (Character.isSurrogate(c)) {
                return false;
            }
        }
        return true;
    }

    /**
     * Applies a create ({@code create}) or a partial edit to {@code m}, validating like Discord; returns the error
     * response or null. On error {@code m} is unchanged.
     */
    private Resp applyMessage(StoredMessage m, ObjectNode data, Map<Integer, Multipart.Part> files, boolean create) {
        String content = m.content;
        ArrayNode embeds = m.embeds;
        ArrayNode components = m.components;
        List<RecordedAttachment> attachments = m.attachments;
        int flags = m.flags;
        if (data.has("content")) {
            content = data.get("content").isNull() ? "" : data.get("content").asText();
        }
        if (content.codePointCount(0, content.length()) > 2000) {
            return formError("content", "BASE_TYPE_MAX_LENGTH", "Must be 2000 or fewer in length.");
        }
        if (!wellFormed(content)) {
            // a lone surrogate cannot be encoded as UTF-8: Discord refuses the body
            return formError("content", "STRING_TYPE_INVALID", "Could not interpret the value as a string.");
        }
        if (data.has("embeds")) {
            embeds = Json.arr();
            for (JsonNode e : data.get("embeds").isArray() ? data.get("embeds") : Json.arr()) {
                ObjectNode embed = e.deepCopy();
                if (!embed.has("type")) {
                    embed.put("type", "rich");
                }
                embeds.add(embed);
            }
            if (embeds.size() > 10) {
                return formError("embeds", "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length.");
            }
        }
        if (data.has("components")) {
            components = data.get("components").isArray() ? data.get("components").deepCopy() : Json.arr();
            numberComponents(components, new AtomicInteger());
        }
        if (data.has("flags") && !data.get("flags").isNull()) {
            int wanted = data.get("flags").asInt();
            int settable = RecordedMessage.FLAG_EPHEMERAL | 4 /* SUPPRESS_EMBEDS */ | 4096 /* SUPPRESS_NOTIFICATIONS */
                    | 32768 /* IS_COMPONENTS_V2 */;
            flags = (flags & ~(4 | 32768)) | (wanted & settable & (create ? settable : ~RecordedMessage.FLAG_EPHEMERAL));
        }
        long uploadBytes = files.values().stream().mapToLong(f -> f.body().length).sum();
        if (uploadBytes > maxUploadBytes) {
            return error(413, 40005, "Request entity too large");
        }
        JsonNode requested = data.get("attachments");
        if (requested != null && requested.isArray()) {
            List<RecordedAttachment> next = new ArrayList<>();
            java.util.Set<Integer> used = new java.util.HashSet<>();
            for (int i = 0; i < requested.size(); i++) {
                JsonNode a = requested.get(i);
                String id = a.path("id").asText();
                RecordedAttachment kept = m.attachments.stream().filter(x -> x.id().equals(id)).findFirst()
                        .orElse(null);
                Integer index = id.matches("\\d{1,4}") ? Integer.valueOf(id) : null;
                if (kept != null) {
                    next.add(kept);
                } else if (index != null && files.containsKey(index)) {
                    used.add(index);
                    next.add(upload(m.channelId, files.get(index), Json.str(a, "filename"),
                            Json.str(a, "description")));
                } else {
                    return formError("attachments." + i + ".id", "ATTACHMENT_NOT_FOUND",
                            "Unknown attachment " + id);
                }
            }
            for (var f : files.entrySet()) {
                if (!used.contains(f.getKey())) {
                    next.add(upload(m.channelId, f.getValue(), null, null));
                }
            }
            attachments = next;
        } else if (!files.isEmpty()) {
            List<RecordedAttachment> next = new ArrayList<>(create ? List.of() : attachments);
            files.values().forEach(f -> next.add(upload(m.channelId, f, null, null)));
            attachments = next;
        }
        if (attachments.size() > 10) {
            return formError("attachments", "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length.");
        }
        boolean empty = content.isEmpty() && embeds.isEmpty() && components.isEmpty() && attachments.isEmpty()
                && !data.has("poll") && !data.has("sticker_ids");
        if (empty && (flags & RecordedMessage.FLAG_LOADING) == 0) {
            return error(400, 50006, "Cannot send an empty message");
        }
        m.content = content;
        m.embeds = embeds;
        m.components = components;
        m.attachments = attachments;
        m.flags = flags;
        for (RecordedAttachment a : attachments) {
            attachmentsById.put(a.id(), a);
        }
        return null;
    }

    private RecordedAttachment upload(String channelId, Multipart.Part part, String filename, String description) {
        String id = nextId();
        String name = filename != null ? filename : part.filename() != null ? part.filename() : "unknown";
        String type = part.contentType();
        if (type == null || type.startsWith("application/octet-stream")) {
            type = guessType(name, type);
        }
        String url = "http://127.0.0.1:" + http.getAddress().getPort() + "/attachments/" + channelId + "/" + id + "/"
                + name;
        return new RecordedAttachment(id, name, type, description, part.body(), url);
    }

    private static String guessType(String name, String fallback) {
        String n = name.toLowerCase(Locale.ROOT);
        if (n.endsWith(".png")) {
            return "image/png";
        }
        if (n.endsWith(".jpg") || n.endsWith(".jpeg")) {
            return "image/jpeg";
        }
        if (n.endsWith(".webp")) {
            return "image/webp";
        }
        if (n.endsWith(".gif")) {
            return "image/gif";
        }
        if (n.endsWith(".txt")) {
            return "text/plain; charset=utf-8";
        }
        if (n.endsWith(".json")) {
            return "application/json; charset=utf-8";
        }
        return fallback;
    }

    private static void numberComponents(JsonNode node, AtomicInteger counter) {
        if (node.isArray()) {
            node.forEach(n -> numberComponents(n, counter));
        } else if (node.isObject() && node.has("type")) {
            ObjectNode o = (ObjectNode) node;
            if (!o.hasNonNull("id")) {
                o.put("id", counter.incrementAndGet());
            } else {
                counter.set(Math.max(counter.get(), o.get("id").asInt()));
            }
            if (o.has("components")) {
                numberComponents(o.get("components"), counter);
            }
            if (o.has("accessory")) {
                numberComponents(o.get("accessory"), counter);
            }
        }
    }

    private static JsonNode findComponent(JsonNode node, String customId) {
        if (node == null) {
            return null;
        }
        if (node.isArray()) {
            for (JsonNode n : node) {
                JsonNode found = findComponent(n, customId);
                if (found != null) {
                    return found;
                }
            }
            return null;
        }
        if (customId.equals(Json.str(node, "custom_id"))) {
            return node;
        }
        JsonNode inner = findComponent(node.get("components"), customId);
        return inner != null ? inner : findComponent(node.get("accessory"), customId);
    }

    private ObjectNode messageJson(StoredMessage m) {
        ObjectNode o = Json.obj().put("id", m.id).put("type", m.type).put("content", m.content)
                .put("channel_id", m.channelId).put("timestamp", m.timestamp).put("tts", false)
                .put("mention_everyone", false).put("pinned", false).put("flags", m.flags);
        if (m.editedTimestamp == null) {
            o.putNull("edited_timestamp");
        } else {
            o.put("edited_timestamp", m.editedTimestamp);
        }
        o.set("author", userJson(users.get(m.authorId)));
        o.putArray("mentions");
        o.putArray("mention_roles");
        o.putArray("mention_channels");
        ArrayNode atts = o.putArray("attachments");
        for (RecordedAttachment a : m.attachments) {
            ObjectNode aj = Json.obj().put("id", a.id()).put("filename", a.filename()).put("size", a.size())
                    .put("url", a.url()).put("proxy_url", a.url());
            if (a.contentType() != null) {
                aj.put("content_type", a.contentType());
            }
            if (a.description() != null) {
                aj.put("description", a.description());
            }
            int[] wh = pngSize(a.bytes());
            if (wh != null) {
                aj.put("width", wh[0]).put("height", wh[1]);
            }
            if ((m.flags & RecordedMessage.FLAG_EPHEMERAL) != 0) {
                aj.put("ephemeral", true);
            }
            atts.add(aj);
        }
        o.set("embeds", m.embeds.deepCopy());
        o.set("components", m.components.deepCopy());
        if (m.webhookId != null) {
            o.put("webhook_id", m.webhookId).put("application_id", applicationId);
        }
        if (m.interactionMetadata != null) {
            o.set("interaction_metadata", m.interactionMetadata.deepCopy());
        }
        if (m.messageReference != null) {
            o.set("message_reference", m.messageReference.deepCopy());
        }
        return o;
    }

    private static int[] pngSize(byte[] b) {
        if (b.length >= 24 && (b[0] & 0xFF) == 0x89 && b[1] == 'P' && b[2] == 'N' && b[3] == 'G' && b[12] == 'I'
                && b[13] == 'H' && b[14] == 'D' && b[15] == 'R') {
            int w = ((b[16] & 0xFF) << 24) | ((b[17] & 0xFF) << 16) | ((b[18] & 0xFF) << 8) | (b[19] & 0xFF);
            int h = ((b[20] & 0xFF) << 24) | ((b[21] & 0xFF) << 16) | ((b[22] & 0xFF) << 8) | (b[23] & 0xFF);
            return new int[] {w, h};
        }
        return null;
    }

    // =====================================================================================================
    // internals
    // =====================================================================================================

    /** A snowflake carrying the current time (JDA derives the interaction expiry from the id's timestamp). */
    String nextId() {
        long ts = System.currentTimeMillis() - DISCORD_EPOCH_MS;
        return Long.toUnsignedString((ts << 22) | (idSequence.incrementAndGet() & 0x3FFFFF));
    }

    private static String now() {
        return OffsetDateTime.now(ZoneOffset.UTC).format(TIMESTAMP);
    }

    private final class GuildState {
        final String id;
        final String name;
        final String ownerId;
        final String adminRoleId;
        final String botRoleId;
        final List<String> channelIds = new ArrayList<>();
        final LinkedHashMap<String, List<String>> members = new LinkedHashMap<>();
        final Map<String, String> joinedAt = new HashMap<>();

        GuildState(String id, String name, String ownerId, String adminRoleId, String botRoleId) {
            this.id = id;
            this.name = name;
            this.ownerId = ownerId;
            this.adminRoleId = adminRoleId;
            this.botRoleId = botRoleId;
        }

        long rolePermissions(String roleId) {
            if (roleId.equals(adminRoleId)) {
                return PERM_MANAGE_GUILD;
            }
            if (roleId.equals(botRoleId)) {
                return BOT_ROLE_PERMISSIONS;
            }
            return 0;
        }

        FakeGuild view() {
            return new FakeGuild(id, name, ownerId, id, adminRoleId, botRoleId);
        }
    }

    private final class StoredMessage {
        final String id;
        final String channelId;
        final String guildId;
        final int type;
        final String timestamp = now();
        String authorId = botUser.id();
        String content = "";
        ArrayNode embeds = Json.arr();
        ArrayNode components = Json.arr();
        List<RecordedAttachment> attachments = List.of();
        int flags;
        String editedTimestamp;
        String webhookId;
        String interactionUserId;
        ObjectNode interactionMetadata;
        JsonNode messageReference;
        boolean deleted;

        StoredMessage(String id, String channelId, String guildId, int type) {
            this.id = id;
            this.channelId = channelId;
            this.guildId = guildId;
            this.type = type;
        }

        RecordedMessage snapshot(RecordedMessage.Kind kind, JsonNode payload, Instant at) {
            List<JsonNode> e = new ArrayList<>();
            embeds.forEach(x -> e.add(x.deepCopy()));
            return new RecordedMessage(kind, id, channelId, content, List.copyOf(e), components.deepCopy(),
                    List.copyOf(attachments), flags, payload == null ? null : payload.deepCopy(),
                    at == null ? Instant.now() : at);
        }
    }

    private static final class InteractionState {
        final String id;
        final String token;
        final int type;
        final String name;
        final FakeUser user;
        final String guildId;
        final String channelId;
        long sentNanos;
        Instant sentAt;
        boolean acknowledged;
        String componentMessageId;
        String originalMessageId;
        final List<RecordedCallback> callbacks = new ArrayList<>();
        final List<RecordedMessage> originalEdits = new ArrayList<>();
        final List<RecordedMessage> followups = new ArrayList<>();
        final List<String> followupIds = new ArrayList<>();
        final List<Duration> lateCallbacks = new ArrayList<>();

        InteractionState(String id, String token, int type, String name, FakeUser user, String guildId,
                String channelId) {
            this.id = id;
            this.token = token;
            this.type = type;
            this.name = name;
            this.user = Objects.requireNonNull(user);
            this.guildId = guildId;
            this.channelId = channelId;
        }
    }
}
