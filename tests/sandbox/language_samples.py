"""One small program of each kind for every language of ``sandbox.languages``: the per-language tests.

``hello`` prints ``hello world``; ``echo`` reads a line and prints ``hi <line>`` (None where the language's
runner owns stdin: pytest and JUnit capture it); ``broken`` does not compile (a syntax error for the
interpreted ones, which then fail at run time); ``spin`` prints ``spinning`` and never ends.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Samples:
    hello: str
    echo: str | None
    broken: str
    spin: str
    hello_output: str = "hello world"
    spin_output: str | None = "spinning"
    """What ``spin`` prints before it spins (None where its runner holds the output back: pytest)."""


SAMPLES: dict[str, Samples] = {
    "python": Samples(
        hello='print("hello world")',
        echo='print("hi " + input())',
        broken="def f(:\n",
        spin='print("spinning", flush=True)\nwhile True: pass',
    ),
    "cpp": Samples(
        hello='#include <cstdio>\nint main() { std::puts("hello world"); }',
        echo="#include <iostream>\n#include <string>\n"
        'int main() { std::string s; std::getline(std::cin, s); std::cout << "hi " << s << "\\n"; }',
        broken="int main( {",
        spin='#include <cstdio>\nint main() { std::puts("spinning"); std::fflush(stdout);'
        " volatile int x = 0; for (;;) x++; }",
    ),
    "c": Samples(
        hello='#include <stdio.h>\nint main(void) { puts("hello world"); return 0; }',
        echo="#include <stdio.h>\n"
        'int main(void) { char s[100]; if (!fgets(s, sizeof s, stdin)) return 1; printf("hi %s", s); return 0; }',
        broken="int main(void) { return x; }",
        spin='#include <stdio.h>\nint main(void) { puts("spinning"); fflush(stdout);'
        " volatile int x = 0; for (;;) x++; }",
    ),
    "javascript": Samples(
        hello='console.log("hello world")',
        echo='const s = require("fs").readFileSync(0, "utf8").trim(); console.log("hi " + s);',
        broken="function ( {",
        spin='console.log("spinning"); for (;;) {}',
    ),
    "java": Samples(
        hello='public class Main { public static void main(String[] a) { System.out.println("hello world"); } }',
        echo="import java.util.*;\npublic class Main { public static void main(String[] a) {"
        ' System.out.println("hi " + new Scanner(System.in).nextLine()); } }',
        broken='public class Main { public static void main(String[] a) { int x = "s"; } }',
        spin="public class Main { public static void main(String[] a) {"
        ' System.out.println("spinning"); System.out.flush(); while (true) {} } }',
    ),
    "go": Samples(
        hello='package main\nimport "fmt"\nfunc main() { fmt.Println("hello world") }',
        echo='package main\nimport (\n\t"bufio"\n\t"fmt"\n\t"os"\n)\n'
        "func main() { s, _ := bufio.NewReader(os.Stdin).ReadString('\\n'); fmt.Print(\"hi \" + s) }",
        broken="package main\nfunc main() { x := 1 }",
        spin='package main\nimport "fmt"\nfunc main() { fmt.Println("spinning"); for {} }',
    ),
    "rust": Samples(
        hello='fn main() { println!("hello world"); }',
        echo="use std::io::Read;\nfn main() { let mut s = String::new();"
        ' std::io::stdin().read_to_string(&mut s).unwrap(); println!("hi {}", s.trim()); }',
        broken='fn main() { let x: i32 = "s"; }',
        spin='use std::io::Write;\nfn main() { println!("spinning"); std::io::stdout().flush().unwrap(); loop {} }',
    ),
    "bash": Samples(
        hello="echo hello world",
        echo='read -r s; echo "hi $s"',
        broken="if then fi",
        spin="echo spinning; while :; do :; done",
    ),
    "typescript": Samples(
        hello='const greeting: string = "hello world";\nconsole.log(greeting);',
        echo='const s: string = require("fs").readFileSync(0, "utf8").trim();\nconsole.log(`hi ${s}`);',
        broken="let x: = 3;",
        spin='console.log("spinning");\nwhile (true) {}',
    ),
    "php": Samples(
        hello='<?php echo "hello world\\n";',
        echo='<?php $s = trim(fgets(STDIN)); echo "hi $s\\n";',
        broken="<?php function ( {",
        spin='<?php echo "spinning\\n"; flush(); while (true) {}',
    ),
    "ruby": Samples(
        hello='puts "hello world"',
        echo='s = STDIN.gets.strip\nputs "hi #{s}"',
        broken="def f(\n",
        spin='STDOUT.sync = true\nputs "spinning"\nloop {}',
    ),
    "lua": Samples(
        hello='print("hello world")',
        echo='local s = io.read("l")\nprint("hi " .. s)',
        broken="function (",
        spin='io.write("spinning\\n"); io.flush()\nwhile true do end',
    ),
    "perl": Samples(
        hello='print "hello world\\n";',
        echo='my $s = <STDIN>; chomp $s; print "hi $s\\n";',
        broken="sub {",
        spin='$| = 1; print "spinning\\n"; while (1) {}',
    ),
    "r": Samples(
        hello='cat("hello world\\n")',
        echo='s <- readLines(file("stdin"), n = 1)\ncat("hi", s, "\\n")',
        broken="f <- function( {",
        spin='cat("spinning\\n"); flush(stdout())\nrepeat {}',
    ),
    "scala": Samples(
        hello='object Hello { def main(args: Array[String]): Unit = println("hello world") }',
        echo='object Echo { def main(args: Array[String]): Unit = println("hi " + scala.io.StdIn.readLine()) }',
        broken='object Bad { def main(args: Array[String]): Unit = { val x: Int = "s" } }',
        spin="object Spin { def main(args: Array[String]): Unit = {"
        ' println("spinning"); Console.flush(); while (true) {} } }',
    ),
    "csharp": Samples(
        hello='using System;\nclass P { static void Main() { Console.WriteLine("hello world"); } }',
        echo='using System;\nclass P { static void Main() { Console.WriteLine("hi " + Console.ReadLine()); } }',
        broken='class P { static void Main() { int x = "s"; } }',
        spin='using System;\nclass P { static void Main() { Console.WriteLine("spinning"); Console.Out.Flush();'
        " while (true) {} } }",
    ),
    "kotlin": Samples(
        hello='fun main() { println("hello world") }',
        echo='fun main() { println("hi " + readLine()) }',
        broken='fun main() { val x: Int = "s" }',
        spin='fun main() { println("spinning"); System.out.flush(); while (true) {} }',
    ),
    "kotlin_script": Samples(
        hello='println("hello world")',
        echo='println("hi " + readLine())',
        broken='val x: Int = "s"',
        spin='println("spinning"); System.out.flush()\nwhile (true) {}',
    ),
    "pytest": Samples(
        hello='def test_hello():\n    print("hello world")\n    assert 1 + 1 == 2\n',
        echo=None,
        broken="def test_broken(:\n",
        spin="def test_spin():\n    while True:\n        pass\n",
        hello_output="1 passed",
        spin_output=None,
    ),
    "junit": Samples(
        hello="import org.junit.jupiter.api.Test;\nimport static org.junit.jupiter.api.Assertions.*;\n"
        "public class HelloTest {\n"
        '    @Test void hello() { System.out.println("hello world"); assertEquals(2, 1 + 1); }\n}\n',
        echo=None,
        broken='public class BrokenTest { void f() { int x = "s"; } }',
        spin="import org.junit.jupiter.api.Test;\npublic class SpinTest {\n"
        '    @Test void spin() { System.out.println("spinning"); System.out.flush(); while (true) {} }\n}\n',
    ),
    "d_ut": Samples(
        hello='import std.stdio;\nunittest { assert(1 + 1 == 2); }\nvoid main() { writeln("hello world"); }',
        echo='import std.stdio, std.string;\nvoid main() { writeln("hi ", readln().strip()); }',
        broken='void main() { int x = "s"; }',
        spin='import std.stdio;\nvoid main() { writeln("spinning"); stdout.flush(); while (true) {} }',
    ),
    "verilog": Samples(
        hello='module tb;\n  initial begin\n    $display("hello world");\n    $finish;\n  end\nendmodule',
        echo="module tb;\n  reg [8*64-1:0] s;\n  integer n;\n  initial begin\n"
        '    n = $fgets(s, 32\'h8000_0000);\n    $write("hi %0s", s);\n    $finish;\n  end\nendmodule',
        broken='module tb;\n  initial begin\n    $display("x")\n  end\nendmodule',
        spin='module tb;\n  reg clk = 0;\n  initial begin $display("spinning"); $fflush; end\n'
        "  always #1 clk = ~clk;\nendmodule",
    ),
}
