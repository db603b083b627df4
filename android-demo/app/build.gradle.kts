plugins {
    // Kotlin is compiled by AGP 9 itself (built-in Kotlin); its JVM target follows compileOptions.
    alias(libs.plugins.android.application)
}

android {
    namespace = "com.example.digitsdemo"
    compileSdk = libs.versions.compileSdk.get().toInt()

    defaultConfig {
        applicationId = "com.example.digitsdemo"
        minSdk = libs.versions.minSdk.get().toInt()
        targetSdk = libs.versions.targetSdk.get().toInt()
        versionCode = 1
        versionName = "1.0"
    }

    buildTypes {
        release {
            isMinifyEnabled = false
            proguardFiles(getDefaultProguardFile("proguard-android-optimize.txt"), "proguard-rules.pro")
            // Signed with the debug key so `installRelease` works out of the box; use your own for a store.
            signingConfig = signingConfigs.getByName("debug")
        }
    }
    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
    androidResources {
        // The model is memory-mapped straight from the APK: it must be stored uncompressed.
        noCompress += "tflite"
    }
    packaging {
        jniLibs {
            // Keep native libraries uncompressed and page-aligned (16 KB pages on newer devices).
            useLegacyPackaging = false
        }
    }
}

dependencies {
    implementation(libs.litert)
    implementation(libs.litert.api)
    implementation(libs.litert.gpu)
    implementation(libs.litert.gpu.api)
}

configurations.configureEach {
    // LiteRT 1.x carries the same org.tensorflow.lite classes as the retired TensorFlow Lite
    // artifacts: if any library pulls those in, they would be duplicate classes.
    exclude(group = "org.tensorflow", module = "tensorflow-lite")
    exclude(group = "org.tensorflow", module = "tensorflow-lite-api")
    exclude(group = "org.tensorflow", module = "tensorflow-lite-gpu")
    exclude(group = "org.tensorflow", module = "tensorflow-lite-gpu-api")
}
