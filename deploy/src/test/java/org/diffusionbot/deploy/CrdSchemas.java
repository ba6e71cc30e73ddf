package org.diffusionbot.deploy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.networknt.schema.Error;
import com.networknt.schema.Schema;
import com.networknt.schema.SchemaRegistry;
import com.networknt.schema.dialect.Dialect;
import com.networknt.schema.dialect.Dialects;
import com.networknt.schema.keyword.NonValidationKeyword;
import java.io.IOException;
import java.io.InputStream;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * Custom resources checked against the {@code openAPIV3Schema} of their CustomResourceDefinition
 * (KEDA's, copied from kedacore/keda {@code config/crd/bases/} into {@code src/test/resources/schemas}),
 * with networknt's JSON Schema validator (OpenAPI 3.0 schemas are a draft-4 dialect).
 *
 * <p>As the API server does with strict field validation, a field the schema does not declare is an
 * error: every object schema with {@code properties} and no {@code additionalProperties} or
 * {@code x-kubernetes-preserve-unknown-fields} is closed before use. The CEL rules
 * ({@code x-kubernetes-validations}) are not evaluated here; the tests check KEDA's one rule themselves.
 */
final class CrdSchemas {
    private static final Map<String, Schema> SCHEMAS = new HashMap<>();
    /** Draft 4 plus the Kubernetes extensions it meets, which guide the API server, not validation. */
    private static final Dialect OPENAPI_V3 = Dialect.builder("https://kubernetes.io/openapi-v3", Dialects.getDraft4())
            .keyword(new NonValidationKeyword("x-kubernetes-list-type"))
            .keyword(new NonValidationKeyword("x-kubernetes-int-or-string"))
            .keyword(new NonValidationKeyword("x-kubernetes-validations"))
            .keyword(new NonValidationKeyword("x-kubernetes-preserve-unknown-fields"))
            .build();

    private CrdSchemas() {
    }

    /** Schema errors of a custom resource, empty when it is valid; IOException for a kind without a CRD here. */
    static List<Error> validate(JsonNode resource) throws IOException {
        String apiVersion = resource.path("apiVersion").asText();
        String kind = resource.path("kind").asText();
        return schema(apiVersion, kind).validate(resource);
    }

    static boolean known(String apiVersion, String kind) {
        return apiVersion.startsWith("keda.sh/") && (kind.equals("ScaledObject") || kind.equals("TriggerAuthentication"));
    }

    private static synchronized Schema schema(String apiVersion, String kind) throws IOException {
        String key = apiVersion + "/" + kind;
        Schema cached = SCHEMAS.get(key);
        if (cached != null) {
            return cached;
        }
        if (!known(apiVersion, kind)) {
            throw new IOException("no CRD schema for " + key);
        }
        String file = "/schemas/keda.sh_" + kind.toLowerCase(java.util.Locale.ROOT) + "s.yaml";
        JsonNode crd;
        try (InputStream in = CrdSchemas.class.getResourceAsStream(file)) {
            if (in == null) {
                throw new IOException("missing test resource " + file);
            }
            crd = Manifests.YAML.readTree(in);
        }
        String version = apiVersion.substring(apiVersion.indexOf('/') + 1);
        for (JsonNode v : crd.path("spec").path("versions")) {
            if (v.path("name").asText().equals(version)) {
                ObjectNode openApi = (ObjectNode) v.path("schema").path("openAPIV3Schema").deepCopy();
                close(openApi);
                Schema s = SchemaRegistry.withDefaultDialect(OPENAPI_V3).getSchema(openApi);
                SCHEMAS.put(key, s);
                return s;
            }
        }
        throw new IOException(file + " has no version " + version);
    }

    /** additionalProperties: false on every object schema that lists its properties and allows no others. */
    private static void close(JsonNode node) {
        if (node instanceof ObjectNode o) {
            if (o.has("properties") && !o.has("additionalProperties")
                    && !o.path("x-kubernetes-preserve-unknown-fields").asBoolean(false)) {
                o.put("additionalProperties", false);
            }
        }
        for (Iterator<JsonNode> it = node.elements(); it.hasNext(); ) {
            close(it.next());
        }
    }
}
