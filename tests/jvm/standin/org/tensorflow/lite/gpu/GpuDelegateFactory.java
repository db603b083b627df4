package org.tensorflow.lite.gpu;

/** Test-only stand-in (see tests/jvm/README.md). */
public class GpuDelegateFactory {
    public static class Options {
        public Options() {}
    }
}
