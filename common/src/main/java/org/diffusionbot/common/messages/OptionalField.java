package org.diffusionbot.common.messages;

import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * Marks a message record component added after schema 1 shipped: a message without it (from an
 * older build) still decodes, the component then being null (the record's constructor gives the
 * default). Every other component stays required ({@link MessageCodec}).
 */
@Retention(RetentionPolicy.RUNTIME)
@Target({ElementType.RECORD_COMPONENT, ElementType.PARAMETER, ElementType.FIELD})
public @interface OptionalField {
}
