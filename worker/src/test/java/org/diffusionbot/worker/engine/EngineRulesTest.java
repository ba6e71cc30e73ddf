package org.diffusionbot.worker.engine;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.ndarray.NDArray;
import com.tngtech.archunit.base.DescribedPredicate;
import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.domain.JavaMethodCall;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import java.util.List;
import java.util.Set;
import org.diffusionbot.worker.engine.cuda.EngineSettings;
import org.junit.jupiter.api.Test;

/**
 * Rules of the engine's code that a reviewer would otherwise have to remember (ArchUnit over the
 * worker's main classes).
 */
class EngineRulesTest {
    private static final JavaClasses MAIN = new ClassFileImporter()
            .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS).importPackages("org.diffusionbot.worker");

    /**
     * DJL's overloads taking Numbers, each of which copies the number to the device and synchronises ({@code clip}'s
     * two bounds: copied, then read back with {@code item()}; inside a CUDA graph capture an error).
     */
    private static final Set<String> NUMBER_OPS = Set.of("add", "sub", "mul", "div", "pow", "addi", "subi", "muli",
            "divi", "powi", "rsub", "rsubi", "rdiv", "rdivi", "maximum", "minimum", "eq", "neq", "gt", "gte", "lt", "lte",
            "clip");

    private static final DescribedPredicate<JavaMethodCall> NUMBER_OVERLOAD =
            new DescribedPredicate<>("an NDArray method taking a Java Number (" + NUMBER_OPS + ")") {
                @Override
                public boolean test(JavaMethodCall call) {
                    var target = call.getTarget();
                    var params = target.getRawParameterTypes();
                    return target.getOwner().isAssignableTo(NDArray.class) && NUMBER_OPS.contains(target.getName())
                            && !params.isEmpty() && params.stream().allMatch(t -> t.isEquivalentTo(Number.class));
                }
            };

    @Test
    void arithmeticWithJavaNumbersGoesThroughScalars() {
        noClasses().that().doNotHaveFullyQualifiedName(Scalars.class.getName())
                .should().callMethodWhere(NUMBER_OVERLOAD)
                .because("DJL puts the number on the array's device: on CUDA a copy after which the host waits for"
                        + " all queued GPU work; Scalars passes it as a CPU scalar")
                .check(MAIN);
    }

    /**
     * The {@code SD_*} settings are read once, where docs/GPU.md says: the native library's loader and its switches
     * ({@code NativeOps.load}, which calls each {@code NativeOps.Switch.load} once, and the one-time probes of its
     * optional functions, {@code NativeOps.linked}, which name the library in their warnings), {@code
     * PipelineOptions.fromSettings} at model load and the setup report ({@code PYTORCH_*}, the library's path); the
     * GPU bench's A/B asks the switch ({@code NativeOps.CUDNN_ATTENTION}). Not in a call made per step, job or LoRA
     * switch ({@code NativeOps.loraPatches} read {@code SD_LORA_NATIVE} at every one).
     */
    @Test
    void engineSettingsAreReadOnlyWhereTheyAreReadOnce() {
        List<String> readers = MAIN.stream().filter(c -> !c.isEquivalentTo(EngineSettings.class))
                .flatMap(c -> c.getMethodCallsFromSelf().stream())
                .filter(call -> call.getTargetOwner().isEquivalentTo(EngineSettings.class))
                .map(call -> call.getOrigin().getOwner().getSimpleName() + "." + call.getOrigin().getName())
                .distinct().sorted().toList();
        assertEquals(List.of("GpuSetup.advice", "GpuSetup.lines", "GpuSetup.probe", "NativeOps.linked", "NativeOps.load",
                "PipelineOptions.fromSettings", "Switch.load"), readers);
    }
}
