package org.diffusionbot.common.messages;

import com.fasterxml.jackson.annotation.JsonSubTypes;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.exc.ValueInstantiationException;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.datatype.jsr310.JavaTimeModule;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.reflect.RecordComponent;
import org.diffusionbot.common.Text;

/**
 * JSON encoding of {@link Message}s. Decoding never throws anything but
 * {@link InvalidMessageException}, with a one-line reason, whatever the bytes are.
 */
public final class MessageCodec {
    /** Largest message body accepted (64 MiB: four 1024x1024 PNGs in base64 fit with room). */
    public static final int MAX_BODY_BYTES = 64 << 20;
    public static final String CONTENT_TYPE = "application/json";

    private static final ObjectMapper MAPPER = JsonMapper.builder()
            .propertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
            .addModule(new JavaTimeModule())
            .disable(SerializationFeature.WRITE_DATES_AS_TIMESTAMPS)
            .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES)
            .enable(DeserializationFeature.FAIL_ON_MISSING_CREATOR_PROPERTIES)
            .disable(DeserializationFeature.ACCEPT_FLOAT_AS_INT)
            .build();

    static {
        MAPPER.getFactory().setStreamReadConstraints(StreamReadConstraints.builder()
                .maxStringLength(MAX_BODY_BYTES).maxNestingDepth(32).build());
    }

    private MessageCodec() {
    }

    public static byte[] encode(Message message) {
        try {
            ObjectNode node = MAPPER.valueToTree(message);
            ObjectNode out = MAPPER.createObjectNode();
            out.set("type", node.remove("type"));
            out.put("schema", Message.SCHEMA_VERSION);
            out.setAll(node);
            return MAPPER.writeValueAsBytes(out);
        } catch (IOException | IllegalArgumentException e) {
            throw new UncheckedIOException(new IOException("cannot encode " + message.getClass().getSimpleName(), e));
        }
    }

    /** Decodes any message; use {@link #decode(byte[], Class)} where only one type is expected. */
    public static Message decode(byte[] body) throws InvalidMessageException {
        return decode(body, Message.class);
    }

    public static <T extends Message> T decode(byte[] body, Class<T> expected) throws InvalidMessageException {
        if (body == null || body.length == 0) {
            throw new InvalidMessageException("empty message body");
        }
        if (body.length > MAX_BODY_BYTES) {
            throw new InvalidMessageException("message of " + body.length + " bytes is larger than the limit of "
                    + MAX_BODY_BYTES);
        }
        JsonNode tree;
        try {
            tree = MAPPER.readTree(body);
        } catch (IOException e) {
            throw new InvalidMessageException("not JSON: " + firstLine(e));
        }
        if (tree == null || !tree.isObject()) {
            throw new InvalidMessageException("not a JSON object");
        }
        JsonNode schema = tree.get("schema");
        if (schema == null || !schema.isInt()) {
            throw new InvalidMessageException("missing or non-integer 'schema' field");
        }
        if (schema.intValue() != Message.SCHEMA_VERSION) {
            throw new InvalidMessageException("schema version " + schema.intValue() + " is not supported (this build speaks "
                    + Message.SCHEMA_VERSION + ")");
        }
        JsonNode type = tree.get("type");
        String typeName = type != null && type.isTextual() ? type.textValue() : null;
        if (typeName == null) {
            throw new InvalidMessageException("missing 'type' field");
        }
        ((ObjectNode) tree).remove("schema");
        absentOptionalsAsNull((ObjectNode) tree, typeName);
        Message m;
        try {
            m = MAPPER.treeToValue(tree, Message.class);
        } catch (ValueInstantiationException e) {
            Throwable cause = e.getCause() != null ? e.getCause() : e;
            throw new InvalidMessageException(typeName + ": " + cause.getMessage());
        } catch (JsonMappingException e) {
            String field = e.getPath().stream().map(r -> r.getFieldName() != null ? r.getFieldName()
                    : "[" + r.getIndex() + "]").collect(java.util.stream.Collectors.joining("."));
            throw new InvalidMessageException(typeName + ": " + (field.isEmpty() ? "" : "field '" + field + "': ")
                    + firstLine(e));
        } catch (JsonProcessingException | IllegalArgumentException e) {
            throw new InvalidMessageException(typeName + ": " + firstLine(e));
        }
        if (!expected.isInstance(m)) {
            throw new InvalidMessageException("expected " + expected.getSimpleName() + " but got '" + typeName + "'");
        }
        return expected.cast(m);
    }

    /** Sets each absent {@link OptionalField} of the message type to null, so that older messages decode. */
    private static void absentOptionalsAsNull(ObjectNode tree, String typeName) {
        for (JsonSubTypes.Type t : Message.class.getAnnotation(JsonSubTypes.class).value()) {
            if (t.name().equals(typeName) && t.value().isRecord()) {
                for (RecordComponent c : t.value().getRecordComponents()) {
                    String field = ((PropertyNamingStrategies.NamingBase) PropertyNamingStrategies.SNAKE_CASE)
                            .translate(c.getName());
                    if (c.isAnnotationPresent(OptionalField.class) && !tree.has(field)) {
                        tree.putNull(field);
                    }
                }
            }
        }
    }

    private static String firstLine(Exception e) {
        String msg = e instanceof JsonProcessingException j ? j.getOriginalMessage() : e.getMessage();
        if (msg == null) {
            return e.getClass().getSimpleName();
        }
        int nl = msg.indexOf('\n');
        String line = nl < 0 ? msg : msg.substring(0, nl);
        return Text.shorten(line, 300);
    }
}
