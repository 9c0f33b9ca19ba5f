package dev.mmfree.model.config;

import com.fasterxml.jackson.databind.JsonNode;

/**
 * Typed reads of config.json fields with defaults. A field that is absent or JSON null takes its
 * default; a field of the wrong type is a {@link ConfigException} naming the field and the file.
 */
final class ConfigFields {
    private final JsonNode node;
    private final String where;

    ConfigFields(JsonNode node, String where) {
        if (node == null || !node.isObject()) {
            throw new ConfigException(where + ": config is not a JSON object");
        }
        this.node = node;
        this.where = where;
    }

    String where() {
        return where;
    }

    boolean present(String field) {
        JsonNode v = node.get(field);
        return v != null && !v.isNull();
    }

    JsonNode raw(String field) {
        return node.get(field);
    }

    int integer(String field, int dflt) {
        if (!present(field)) {
            return dflt;
        }
        JsonNode v = node.get(field);
        if (!v.isIntegralNumber() || !v.canConvertToInt()) {
            throw fail(field, "must be an integer, got " + v);
        }
        return v.intValue();
    }

    int positive(String field, int dflt) {
        int v = integer(field, dflt);
        if (v <= 0) {
            throw fail(field, "must be > 0, got " + v);
        }
        return v;
    }

    double number(String field, double dflt) {
        if (!present(field)) {
            return dflt;
        }
        JsonNode v = node.get(field);
        if (!v.isNumber()) {
            throw fail(field, "must be a number, got " + v);
        }
        return v.doubleValue();
    }

    boolean bool(String field, boolean dflt) {
        if (!present(field)) {
            return dflt;
        }
        JsonNode v = node.get(field);
        if (!v.isBoolean()) {
            throw fail(field, "must be true or false, got " + v);
        }
        return v.booleanValue();
    }

    String text(String field, String dflt) {
        if (!present(field)) {
            return dflt;
        }
        JsonNode v = node.get(field);
        if (!v.isTextual()) {
            throw fail(field, "must be a string, got " + v);
        }
        return v.textValue();
    }

    /** A token id: an integer, or a list of integers whose first entry is taken; default when absent. */
    int tokenId(String field, int dflt) {
        if (present(field) && node.get(field).isArray()) {
            JsonNode list = node.get(field);
            if (list.isEmpty() || !list.get(0).isIntegralNumber() || !list.get(0).canConvertToInt()) {
                throw fail(field, "must be an integer or a non-empty list of integers, got " + list);
            }
            return list.get(0).intValue();
        }
        return integer(field, dflt);
    }

    void requireText(String field, String expected) {
        if (!present(field)) {
            throw fail(field, "is missing, expected \"" + expected + "\"");
        }
        String v = text(field, null);
        if (!v.equals(expected)) {
            throw fail(field, "is \"" + v + "\", expected \"" + expected + "\"");
        }
    }

    ConfigException fail(String field, String what) {
        return new ConfigException(where + ": field '" + field + "' " + what);
    }
}
