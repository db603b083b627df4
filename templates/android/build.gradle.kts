// Top-level build file: plugin versions come from gradle/libs.versions.toml.  AGP 9 compiles the
// app's Kotlin itself (built-in Kotlin): there is no Kotlin plugin to apply.
plugins {
    alias(libs.plugins.android.application) apply false
}
