//! Metering one core module: a new mutable `i64` global holds the fuel left, each function body
//! charges its own instructions on entry and each loop its body's at the top of every pass, and
//! a charge that leaves the counter below zero executes `unreachable`.

use std::borrow::Cow;

use wasm_encoder::reencode::{Error as ReencodeError, Reencode, utils};
use wasm_encoder::{
    BlockType, CodeSection, ConstExpr, Function, GlobalSection, GlobalType, Instruction, SectionId, ValType,
};
use wasmparser::{FunctionBody, Operator, Parser, Payload};

use crate::{MARK, MeterError};

/// Writes `data` (a core module read by `parser`) into `module`, metered to `budget`.
pub fn meter(module: &mut wasm_encoder::Module, parser: Parser, data: &[u8], budget: i64) -> Result<(), MeterError> {
    let mut meter = ModuleMeter::survey(parser.clone(), data, budget)?;
    utils::parse_core_module(&mut meter, module, parser, data)?;
    if !meter.counter_written {
        return Err(MeterError::Invalid("the module's sections are not in WebAssembly's order".into()));
    }
    let mark = budget.to_string();
    module.section(&wasm_encoder::CustomSection { name: Cow::Borrowed(MARK), data: Cow::Borrowed(mark.as_bytes()) });
    Ok(())
}

struct ModuleMeter {
    budget: i64,
    /// The counter's index: after every global the module imports or defines.
    counter: u32,
    /// Whether the module has a global section, which the counter joins; if not, the counter
    /// gets one of its own.
    has_globals: bool,
    counter_written: bool,
}

impl ModuleMeter {
    /// Counts the module's globals (the counter comes after them) and refuses a metered module.
    fn survey(parser: Parser, data: &[u8], budget: i64) -> Result<Self, MeterError> {
        let mut meter = ModuleMeter { budget, counter: 0, has_globals: false, counter_written: false };
        for payload in parser.parse_all(data) {
            match payload.map_err(|error| MeterError::Invalid(error.to_string()))? {
                Payload::ImportSection(imports) => {
                    for import in imports.into_imports() {
                        let import = import.map_err(|error| MeterError::Invalid(error.to_string()))?;
                        if matches!(import.ty, wasmparser::TypeRef::Global(_)) {
                            meter.counter += 1;
                        }
                    }
                }
                Payload::GlobalSection(globals) => {
                    meter.has_globals = true;
                    meter.counter += globals.count();
                }
                Payload::CustomSection(section) if section.name() == MARK => {
                    return Err(MeterError::AlreadyMetered(String::from_utf8_lossy(section.data()).into_owned()));
                }
                _ => {}
            }
        }
        Ok(meter)
    }

    fn write_counter(&mut self, globals: &mut GlobalSection) {
        let ty = GlobalType { val_type: ValType::I64, mutable: true, shared: false };
        globals.global(ty, &ConstExpr::i64_const(self.budget));
        self.counter_written = true;
    }

    /// Takes `cost` from the counter; traps if that leaves it below zero.
    fn charge(&self, function: &mut Function, cost: u64) {
        let cost = i64::try_from(cost).unwrap_or(i64::MAX);
        function
            .instruction(&Instruction::GlobalGet(self.counter))
            .instruction(&Instruction::I64Const(cost))
            .instruction(&Instruction::I64Sub)
            .instruction(&Instruction::GlobalSet(self.counter))
            .instruction(&Instruction::GlobalGet(self.counter))
            .instruction(&Instruction::I64Const(0))
            .instruction(&Instruction::I64LtS)
            .instruction(&Instruction::If(BlockType::Empty))
            .instruction(&Instruction::Unreachable)
            .instruction(&Instruction::End);
    }
}

impl Reencode for ModuleMeter {
    type Error = MeterError;

    fn parse_global_section(
        &mut self,
        globals: &mut GlobalSection,
        section: wasmparser::GlobalSectionReader<'_>,
    ) -> Result<(), ReencodeError<MeterError>> {
        utils::parse_global_section(self, globals, section)?;
        self.write_counter(globals);
        Ok(())
    }

    /// A module without globals gets a global section, holding only the counter, where one
    /// belongs: before the first section that comes after globals.
    fn intersperse_section_hook(
        &mut self,
        module: &mut wasm_encoder::Module,
        _after: Option<SectionId>,
        before: Option<SectionId>,
    ) -> Result<(), ReencodeError<MeterError>> {
        let globals_belong_here = before.is_none_or(|next| order(next) > order(SectionId::Global));
        if !self.has_globals && !self.counter_written && globals_belong_here {
            let mut globals = GlobalSection::new();
            self.write_counter(&mut globals);
            module.section(&globals);
        }
        Ok(())
    }

    fn parse_function_body(
        &mut self,
        code: &mut CodeSection,
        body: FunctionBody<'_>,
    ) -> Result<(), ReencodeError<MeterError>> {
        let mut function = self.new_function_with_parsed_locals(&body)?;
        let mut reader = body.get_operators_reader()?;
        let mut operators = Vec::new();
        while !reader.eof() {
            operators.push(reader.read()?);
        }
        let costs = region_costs(&operators);
        let mut loop_costs = costs.iter().skip(1);
        self.charge(&mut function, costs[0]);
        for operator in operators {
            let starts_loop = matches!(operator, Operator::Loop { .. });
            function.instruction(&self.instruction(operator)?);
            if starts_loop {
                self.charge(&mut function, loop_costs.next().copied().unwrap_or(1));
            }
        }
        code.function(&function);
        Ok(())
    }
}

/// The instructions of the function body (first) and of each loop body in the order the loops
/// start, each not counting the loops nested in it.
fn region_costs(operators: &[Operator<'_>]) -> Vec<u64> {
    let mut costs = vec![0u64];
    // One entry per open block: the region (function or loop) it opened, or None for a block
    // that counts towards the region around it.
    let mut open: Vec<Option<usize>> = vec![Some(0)];
    for operator in operators {
        let region = open.iter().rev().find_map(|block| *block).unwrap_or(0);
        costs[region] += 1;
        match operator {
            Operator::Loop { .. } => {
                costs.push(0);
                open.push(Some(costs.len() - 1));
            }
            Operator::Block { .. } | Operator::If { .. } | Operator::Try { .. } | Operator::TryTable { .. } => {
                open.push(None);
            }
            Operator::End | Operator::Delegate { .. } => {
                open.pop();
            }
            _ => {}
        }
    }
    costs
}

/// A section's place in a module's order (the binary format's, not its ids').
fn order(section: SectionId) -> u8 {
    match section {
        SectionId::Custom => 0,
        SectionId::Type => 1,
        SectionId::Import => 2,
        SectionId::Function => 3,
        SectionId::Table => 4,
        SectionId::Memory => 5,
        SectionId::Tag => 6,
        SectionId::Global => 7,
        SectionId::Export => 8,
        SectionId::Start => 9,
        SectionId::Element => 10,
        SectionId::DataCount => 11,
        SectionId::Code => 12,
        SectionId::Data => 13,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn operators(wat_body: &[Operator<'static>]) -> Vec<Operator<'static>> {
        wat_body.to_vec()
    }

    #[test]
    fn each_loop_counts_its_own_body_and_not_the_loops_inside_it() {
        let blocktype = wasmparser::BlockType::Empty;
        let body = operators(&[
            Operator::Nop,
            Operator::Loop { blockty: blocktype },
            Operator::Nop,
            Operator::Block { blockty: blocktype },
            Operator::Loop { blockty: blocktype },
            Operator::Br { relative_depth: 0 },
            Operator::End,
            Operator::End,
            Operator::Br { relative_depth: 0 },
            Operator::End,
            Operator::End,
        ]);
        // The function: nop, loop, its end; the outer loop: nop, block, loop, block's end, br,
        // loop's end; the inner loop: br, its end.
        assert_eq!(region_costs(&body), vec![3, 6, 2]);
    }
}
