package org.tensorflow.lite.gpu;

/** Test-only stand-in: this host has no Android GPU, so the GPU delegate is never supported. */
public class CompatibilityList implements AutoCloseable {
    public CompatibilityList() {}

    public boolean isDelegateSupportedOnThisDevice() {
        return false;
    }

    public GpuDelegate.Options getBestOptionsForThisDevice() {
        return new GpuDelegate.Options();
    }

    @Override
    public void close() {}
}
