package org.tensorflow.lite.gpu;

import org.tensorflow.lite.Delegate;

/** Test-only stand-in: there is no Android GPU delegate on this host. */
public class GpuDelegate implements Delegate {
    public static class Options extends GpuDelegateFactory.Options {
        public Options() {}
    }

    public GpuDelegate(GpuDelegateFactory.Options options) {
        throw new UnsupportedOperationException("no Android GPU delegate on this host");
    }

    @Override
    public long getNativeHandle() {
        return 0;
    }

    @Override
    public void close() {}
}
