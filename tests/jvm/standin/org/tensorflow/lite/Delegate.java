package org.tensorflow.lite;

/** Test-only stand-in (see tests/jvm/README.md). */
public interface Delegate extends java.io.Closeable {
    long getNativeHandle();

    @Override
    default void close() {}
}
