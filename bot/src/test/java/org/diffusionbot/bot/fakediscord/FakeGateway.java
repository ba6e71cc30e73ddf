package org.diffusionbot.bot.fakediscord;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.zip.Deflater;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The fake gateway: a minimal RFC 6455 websocket server (handshake, masked client frames, fragmentation, ping/pong,
 * close) speaking Discord's gateway protocol v10 with JSON encoding, optionally with {@code compress=zlib-stream}
 * transport compression (one shared deflate context, each payload ending in a Z_SYNC_FLUSH).
 */
final class FakeGateway implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(FakeGateway.class);
    private static final String WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    static final int HEARTBEAT_INTERVAL_MS = 41_250;

    private final FakeDiscord fake;
    private final ServerSocket server;
    private final Thread acceptor;
    private final List<Connection> connections = new CopyOnWriteArrayList<>();
    private final Map<String, Session> sessions = new ConcurrentHashMap<>();
    private volatile Session current;
    private volatile boolean closed;

    /** A gateway session: survives reconnects through RESUME; owns the dispatch sequence. */
    static final class Session {
        final String id;
        final long intents;
        int seq;
        volatile Connection connection;

        Session(String id, long intents) {
            this.id = id;
            this.intents = intents;
        }
    }

    FakeGateway(FakeDiscord fake) throws IOException {
        this.fake = fake;
        this.server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        this.acceptor = new Thread(this::acceptLoop, "fake-discord-gateway-accept");
        this.acceptor.setDaemon(true);
        this.acceptor.start();
    }

    String url() {
        return "ws://127.0.0.1:" + server.getLocalPort();
    }

    Session currentSession() {
        return current;
    }

    /**
     * Sends a dispatch (op 0) on the current session; returns the {@link System#nanoTime()} just before the frame
     * was written.
     */
    long dispatch(String type, JsonNode data) {
        Session session = current;
        if (session == null || session.connection == null) {
            throw new IllegalStateException("no gateway session is connected (did JDA connect and awaitReady()?)");
        }
        return dispatch(session, type, data);
    }

    private long dispatch(Session session, String type, JsonNode data) {
        synchronized (session) {
            Connection c = session.connection;
            if (c == null) {
                throw new IllegalStateException("gateway session " + session.id + " has no connection");
            }
            session.seq++;
            ObjectNode frame = Json.obj().put("op", 0).put("s", session.seq).put("t", type);
            frame.set("d", data);
            long t0 = System.nanoTime();
            c.send(frame);
            return t0;
        }
    }

    /** Closes the current connection from the server side with the given close code (the session stays resumable). */
    void disconnect(int code, String reason) {
        Session session = current;
        Connection c = session == null ? null : session.connection;
        if (c != null) {
            c.close(code, reason);
        }
    }

    private void acceptLoop() {
        while (!closed) {
            try {
                Socket socket = server.accept();
                socket.setTcpNoDelay(true);
                Connection c = new Connection(socket);
                connections.add(c);
                Thread t = new Thread(c::run, "fake-discord-gateway-conn");
                t.setDaemon(true);
                t.start();
            } catch (IOException e) {
                if (!closed) {
                    LOG.warn("gateway accept failed", e);
                }
            }
        }
    }

    @Override
    public void close() {
        closed = true;
        try {
            server.close();
        } catch (IOException ignored) {
            // closing anyway
        }
        for (Connection c : connections) {
            c.closeSocket();
        }
    }

    /** One websocket connection. */
    final class Connection {
        private final Socket socket;
        private InputStream in;
        private OutputStream out;
        private final Object writeLock = new Object();
        private Deflater deflater;
        private String query = "";
        private volatile Session session;
        private volatile boolean closing;

        Connection(Socket socket) {
            this.socket = socket;
        }

        void run() {
            try {
                in = new BufferedInputStream(socket.getInputStream());
                out = socket.getOutputStream();
                if (!handshake()) {
                    return;
                }
                send(Json.obj().put("op", 10).putNull("s").putNull("t").set("d",
                        Json.obj().put("heartbeat_interval", HEARTBEAT_INTERVAL_MS)
                                .set("_trace", Json.arr().add("[\"fake-discord-gateway\"]"))));
                readLoop();
            } catch (EOFException | SocketException e) {
                LOG.debug("gateway connection ended: {}", e.toString());
            } catch (IOException | RuntimeException e) {
                if (!closed && !closing) {
                    LOG.warn("gateway connection failed", e);
                }
            } finally {
                closeSocket();
                connections.remove(this);
                Session s = session;
                if (s != null) {
                    synchronized (s) {
                        if (s.connection == this) {
                            s.connection = null;
                        }
                    }
                }
            }
        }

        private boolean handshake() throws IOException {
            ByteArrayOutputStream head = new ByteArrayOutputStream();
            int matched = 0;
            while (matched < 4) {
                int b = in.read();
                if (b < 0) {
                    throw new EOFException("EOF during websocket handshake");
                }
                head.write(b);
                matched = (b == '\r' && (matched == 0 || matched == 2)) || (b == '\n' && (matched == 1 || matched == 3))
                        ? matched + 1 : (b == '\r' ? 1 : 0);
            }
            String[] lines = head.toString(StandardCharsets.ISO_8859_1).split("\r\n");
            String[] requestLine = lines[0].split(" ");
            Map<String, String> headers = new HashMap<>();
            for (int i = 1; i < lines.length; i++) {
                int colon = lines[i].indexOf(':');
                if (colon > 0) {
                    headers.put(lines[i].substring(0, colon).trim().toLowerCase(Locale.ROOT),
                            lines[i].substring(colon + 1).trim());
                }
            }
            String target = requestLine.length > 1 ? requestLine[1] : "/";
            int q = target.indexOf('?');
            query = q < 0 ? "" : target.substring(q + 1);
            String key = headers.get("sec-websocket-key");
            if (!"GET".equals(requestLine[0]) || key == null
                    || !"websocket".equalsIgnoreCase(headers.getOrDefault("upgrade", ""))) {
                writeRaw(("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                        .getBytes(StandardCharsets.ISO_8859_1));
                return false;
            }
            Map<String, String> params = queryParams(query);
            if (!"json".equals(params.getOrDefault("encoding", "json"))) {
                fake.recordGatewayProblem("unsupported gateway encoding: " + query);
                writeRaw(("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                        .getBytes(StandardCharsets.ISO_8859_1));
                return false;
            }
            String compress = params.get("compress");
            if ("zlib-stream".equals(compress)) {
                deflater = new Deflater();
            } else if (compress != null) {
                fake.recordGatewayProblem("unsupported gateway compression: " + compress);
            }
            String accept = Base64.getEncoder().encodeToString(sha1(key + WS_GUID));
            writeRaw(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    + "Sec-WebSocket-Accept: " + accept + "\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
            return true;
        }

        private void readLoop() throws IOException {
            ByteArrayOutputStream fragments = null;
            int fragmentOpcode = 0;
            while (true) {
                int b0 = readByte();
                int b1 = readByte();
                boolean fin = (b0 & 0x80) != 0;
                int opcode = b0 & 0x0F;
                boolean masked = (b1 & 0x80) != 0;
                long len = b1 & 0x7F;
                if (len == 126) {
                    len = ((long) readByte() << 8) | readByte();
                } else if (len == 127) {
                    len = 0;
                    for (int i = 0; i < 8; i++) {
                        len = (len << 8) | readByte();
                    }
                }
                if (!masked) {
                    close(1002, "client frames must be masked");
                    return;
                }
                if (len > 16 * 1024 * 1024) {
                    close(1009, "frame too large");
                    return;
                }
                byte[] mask = in.readNBytes(4);
                byte[] payload = in.readNBytes((int) len);
                if (payload.length != len || mask.length != 4) {
                    throw new EOFException("EOF inside a frame");
                }
                for (int i = 0; i < payload.length; i++) {
                    payload[i] ^= mask[i & 3];
                }
                switch (opcode) {
                    case 0x0 -> {
                        if (fragments == null) {
                            close(1002, "unexpected continuation frame");
                            return;
                        }
                        fragments.write(payload);
                        if (fin) {
                            onMessage(fragmentOpcode, fragments.toByteArray());
                            fragments = null;
                        }
                    }
                    case 0x1, 0x2 -> {
                        if (fin) {
                            onMessage(opcode, payload);
                        } else {
                            fragments = new ByteArrayOutputStream();
                            fragments.write(payload);
                            fragmentOpcode = opcode;
                        }
                    }
                    case 0x8 -> {
                        int code = payload.length >= 2 ? ((payload[0] & 0xFF) << 8) | (payload[1] & 0xFF) : 1005;
                        LOG.debug("client closed the gateway connection with {}", code);
                        if (!closing) {
                            closing = true;
                            writeFrame(0x8, payload.length >= 2 ? new byte[] {payload[0], payload[1]} : new byte[0]);
                        }
                        return;
                    }
                    case 0x9 -> writeFrame(0xA, payload);
                    case 0xA -> {
                        // pong: nothing to do
                    }
                    default -> {
                        close(1002, "unknown opcode " + opcode);
                        return;
                    }
                }
            }
        }

        private void onMessage(int opcode, byte[] payload) {
            if (opcode != 0x1) {
                fake.recordGatewayProblem("client sent a binary gateway frame");
                close(4002, "Error while decoding payload.");
                return;
            }
            JsonNode msg;
            try {
                msg = Json.parse(payload);
            } catch (RuntimeException e) {
                close(4002, "Error while decoding payload.");
                return;
            }
            int op = msg.path("op").asInt(-1);
            JsonNode d = msg.get("d");
            switch (op) {
                case 1 -> send(Json.obj().put("op", 11));
                case 2 -> identify(d);
                case 6 -> resume(d);
                case 8 -> requestMembers(d);
                case 3, 4 -> {
                    // presence / voice state updates: accepted, ignored
                }
                default -> {
                    fake.recordGatewayProblem("unknown gateway opcode " + op + ": " + Json.text(msg));
                    close(4001, "Unknown opcode.");
                }
            }
        }

        private void identify(JsonNode d) {
            if (session != null) {
                close(4005, "Already authenticated.");
                return;
            }
            String token = Json.str(d, "token");
            IdentifyInfo info = new IdentifyInfo(token, d == null ? -1 : d.path("intents").asLong(-1), query, d);
            fake.recordIdentify(info);
            if (token == null || !token.equals(fake.token())) {
                close(4004, "Authentication failed.");
                return;
            }
            if (d.get("intents") == null || !d.get("intents").canConvertToLong() || info.intents() < 0
                    || info.intents() >= (1L << 26)) {
                close(4013, "Invalid intent(s).");
                return;
            }
            Session s = new Session(UUID.randomUUID().toString().replace("-", ""), info.intents());
            synchronized (s) {
                s.connection = this;
                session = s;
                sessions.put(s.id, s);
                current = s;
                dispatch(s, "READY", fake.readyPayload(s.id, url() + "/"));
                for (ObjectNode guild : fake.guildCreatePayloads(s.intents)) {
                    dispatch(s, "GUILD_CREATE", guild);
                }
            }
            fake.sessionReady();
        }

        private void resume(JsonNode d) {
            String token = Json.str(d, "token");
            Session s = sessions.get(String.valueOf(Json.str(d, "session_id")));
            if (s == null || token == null || !token.equals(fake.token())) {
                send(Json.obj().put("op", 9).put("d", false));
                return;
            }
            synchronized (s) {
                s.connection = this;
                session = s;
                current = s;
                dispatch(s, "RESUMED", Json.obj().set("_trace", Json.arr().add("[\"fake-discord-gateway\"]")));
            }
            fake.sessionReady();
        }

        private void requestMembers(JsonNode d) {
            Session s = session;
            if (s == null) {
                close(4003, "Not authenticated.");
                return;
            }
            ObjectNode chunk = fake.memberChunk(Json.str(d, "guild_id"), d);
            if (chunk != null) {
                dispatch(s, "GUILD_MEMBERS_CHUNK", chunk);
            }
        }

        void send(JsonNode message) {
            byte[] bytes = Json.bytes(message);
            try {
                synchronized (writeLock) {
                    if (deflater != null) {
                        deflater.setInput(bytes);
                        ByteArrayOutputStream compressed = new ByteArrayOutputStream();
                        byte[] buf = new byte[8192];
                        int n;
                        do {
                            n = deflater.deflate(buf, 0, buf.length, Deflater.SYNC_FLUSH);
                            compressed.write(buf, 0, n);
                        } while (n == buf.length);
                        writeFrame(0x2, compressed.toByteArray());
                    } else {
                        writeFrame(0x1, bytes);
                    }
                }
            } catch (IOException e) {
                LOG.debug("could not write to the gateway connection: {}", e.toString());
            }
        }

        void close(int code, String reason) {
            if (closing) {
                return;
            }
            closing = true;
            byte[] r = reason.getBytes(StandardCharsets.UTF_8);
            byte[] payload = new byte[2 + r.length];
            payload[0] = (byte) (code >> 8);
            payload[1] = (byte) code;
            System.arraycopy(r, 0, payload, 2, r.length);
            try {
                writeFrame(0x8, payload);
            } catch (IOException e) {
                LOG.debug("could not send close frame: {}", e.toString());
            }
            // give the client a moment to answer the close, then drop the socket
            Thread t = new Thread(() -> {
                try {
                    Thread.sleep(200);
                } catch (InterruptedException ignored) {
                    Thread.currentThread().interrupt();
                }
                closeSocket();
            }, "fake-discord-gateway-close");
            t.setDaemon(true);
            t.start();
        }

        void closeSocket() {
            try {
                socket.close();
            } catch (IOException ignored) {
                // closing anyway
            }
        }

        private void writeFrame(int opcode, byte[] payload) throws IOException {
            ByteArrayOutputStream frame = new ByteArrayOutputStream(payload.length + 10);
            frame.write(0x80 | opcode);
            if (payload.length < 126) {
                frame.write(payload.length);
            } else if (payload.length <= 0xFFFF) {
                frame.write(126);
                frame.write(payload.length >>> 8);
                frame.write(payload.length);
            } else {
                frame.write(127);
                long len = payload.length;
                for (int i = 7; i >= 0; i--) {
                    frame.write((int) (len >>> (8 * i)));
                }
            }
            frame.write(payload);
            writeRaw(frame.toByteArray());
        }

        private void writeRaw(byte[] bytes) throws IOException {
            synchronized (writeLock) {
                out.write(bytes);
                out.flush();
            }
        }

        private int readByte() throws IOException {
            int b = in.read();
            if (b < 0) {
                throw new EOFException("gateway connection closed");
            }
            return b;
        }
    }

    private static Map<String, String> queryParams(String query) {
        Map<String, String> params = new HashMap<>();
        for (String kv : query.split("&")) {
            int eq = kv.indexOf('=');
            if (eq > 0) {
                params.put(kv.substring(0, eq), kv.substring(eq + 1));
            }
        }
        return params;
    }

    private static byte[] sha1(String s) {
        try {
            return MessageDigest.getInstance("SHA-1").digest(s.getBytes(StandardCharsets.ISO_8859_1));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
