package org.tensorflow.lite;

/** Test-only stand-in (see tests/jvm/README.md): what the app reads of a tensor. */
public interface Tensor {
    DataType dataType();

    int numDimensions();

    int numBytes();

    int numElements();

    int[] shape();

    String name();
}
