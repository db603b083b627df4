package android.util;

/**
 * Test-only stand-in for android.util.Log, whose methods are JNI calls into the Android runtime.
 * The platform's own ExifInterface (android-all, pure Java for JPEG, PNG and WebP) logs through it;
 * with this class first on the classpath the app's PhotoDecoder.orientation runs the real
 * ExifInterface on a JVM.  Nothing is printed.
 */
public final class Log {
    public static final int VERBOSE = 2, DEBUG = 3, INFO = 4, WARN = 5, ERROR = 6, ASSERT = 7;

    private Log() {}

    public static boolean isLoggable(String tag, int level) { return false; }
    public static int println(int priority, String tag, String msg) { return 0; }
    public static int v(String tag, String msg) { return 0; }
    public static int v(String tag, String msg, Throwable tr) { return 0; }
    public static int d(String tag, String msg) { return 0; }
    public static int d(String tag, String msg, Throwable tr) { return 0; }
    public static int i(String tag, String msg) { return 0; }
    public static int i(String tag, String msg, Throwable tr) { return 0; }
    public static int w(String tag, String msg) { return 0; }
    public static int w(String tag, String msg, Throwable tr) { return 0; }
    public static int w(String tag, Throwable tr) { return 0; }
    public static int e(String tag, String msg) { return 0; }
    public static int e(String tag, String msg, Throwable tr) { return 0; }
    public static String getStackTraceString(Throwable tr) { return String.valueOf(tr); }
}
