package org.diffusionbot.bot.arch;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;

import com.tngtech.archunit.core.domain.JavaClass;
import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import java.net.URL;
import java.util.List;
import org.diffusionbot.bot.Bot;
import org.diffusionbot.db.JobStore;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The bot's layers (docs/ARCHITECTURE.md, "Bot layers"): {@code discord} holds the Discord adapters only, the
 * application services know no JDA, and the adapters reach the database only through the services.
 */
class BotArchitectureTest {
    static final String ROOT = "org.diffusionbot.bot";
    static final String DISCORD = ROOT + ".discord..";
    static JavaClasses classes;

    @BeforeAll
    static void importClasses() {
        // the bot's and db's own class folders (or jars): scanning the whole class path for the packages would
        // read every dependency jar, PyTorch's included
        classes = new ClassFileImporter().withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
                .importUrls(List.of(location(Bot.class), location(JobStore.class)));
    }

    static URL location(Class<?> c) {
        return c.getProtectionDomain().getCodeSource().getLocation();
    }

    @Test
    void servicesKnowNoJda() {
        noClasses().that().resideInAnyPackage(ROOT + ".service..", ROOT + ".jobs..", ROOT + ".workers..",
                        ROOT + ".web..", "org.diffusionbot.db..")
                .should().dependOnClassesThat().resideInAPackage("net.dv8tion..")
                .because("application logic is tested and reused without Discord; only discord/ talks JDA")
                .check(classes);
    }

    @Test
    void discordAdaptersKnowNoSql() {
        noClasses().that().resideInAPackage(DISCORD)
                .should().dependOnClassesThat().resideInAnyPackage("java.sql..", "javax.sql..", "com.zaxxer..",
                        "org.flywaydb..", "org.postgresql..")
                .orShould().dependOnClassesThat().haveFullyQualifiedName("org.diffusionbot.db.Jdbc")
                .because("the adapters turn interactions into service calls and results into messages")
                .check(classes);
    }

    @Test
    void discordAdaptersReachTheDatabaseOnlyThroughServices() {
        noClasses().that().resideInAPackage(DISCORD)
                .should().dependOnClassesThat().haveSimpleNameEndingWith("Store")
                .orShould().dependOnClassesThat(JavaClass.Predicates.simpleNameEndingWith("Exception")
                        .and(JavaClass.Predicates.resideInAPackage("org.diffusionbot.db..")))
                .because("submitting, quotas, settings, cancelling and admin actions are services' rules, and"
                        + " database failures reach the user through service.Failures alone")
                .check(classes);
    }

    @Test
    void servicesDoNotReachUpIntoAdapters() {
        noClasses().that().resideOutsideOfPackage(DISCORD).and().resideOutsideOfPackage(ROOT)
                .should().dependOnClassesThat().resideInAPackage(DISCORD)
                .because("only the composition root (Bot) wires the adapters")
                .check(classes);
    }

    @Test
    void botPackagesHaveNoCycles() {
        slices().matching(ROOT + ".(*)..").should().beFreeOfCycles().check(classes);
    }
}
